# citynode node: the device's /main.py. Everything else lives in /lib.
import node.runtime

node.runtime.main()
