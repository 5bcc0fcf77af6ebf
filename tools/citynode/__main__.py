from citynode.cli import main

main()
