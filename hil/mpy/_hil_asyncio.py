# Stand-in for the unix port's C `_asyncio` module, installed by _hil_boot as sys.modules["_asyncio"].
# The C TaskQueue stamps tasks pushed "now" with the port's real clock; ours stamps them with the virtual
# clock (asyncio.core.ticks, i.e. the time shim), so asyncio runs entirely on virtual time.
# Same interface as the C module: TaskQueue(peek, push, pop, remove) and Task(coro, globals).


def _core():
    import asyncio.core

    return asyncio.core


class TaskQueue:
    """Tasks ordered by wake-up tick; equal ticks keep their arrival order. A plain list: queues are short."""

    def __init__(self):
        self._q = []

    def peek(self):
        return self._q[0] if self._q else None

    def push(self, task, key=None):
        core = _core()
        task.data = None
        task.ph_key = core.ticks() if key is None else key
        q = self._q
        i = len(q)
        while i > 0 and core.ticks_diff(q[i - 1].ph_key, task.ph_key) > 0:
            i -= 1
        q.insert(i, task)

    def pop(self):
        return self._q.pop(0)

    def remove(self, task):
        self._q.remove(task)


class Task:
    def __init__(self, coro, globals=None):
        self.coro = coro
        self.data = None  # what the task waits on, or its result/exception once done
        self.state = True  # True running; a TaskQueue of waiters; a callable; False/None once done
        self.ph_key = 0

    def __iter__(self):
        if not self.state:
            self.state = False  # finished: mark its result as awaited
        elif self.state is True:
            self.state = TaskQueue()  # first waiter: start the queue of tasks waiting for this one
        elif type(self.state) is not TaskQueue:
            raise RuntimeError("can't wait")
        return self

    def __next__(self):
        core = _core()
        if not self.state:
            raise self.data
        self.state.push(core.cur_task)
        core.cur_task.data = self

    def done(self):
        return not self.state

    def cancel(self):
        core = _core()
        if not self.state:
            return False
        if self is core.cur_task:
            raise RuntimeError("can't cancel self")
        target = self
        while isinstance(target.data, Task):
            target = target.data  # a task awaiting another: cancel the innermost wait
        if hasattr(target.data, "remove"):
            target.data.remove(target)
            core._task_queue.push(target)
        elif core.ticks_diff(target.ph_key, core.ticks()) > 0:
            core._task_queue.remove(target)
            core._task_queue.push(target)
        target.data = core.CancelledError
        return True
