#!/usr/bin/python3.11
"""A CPython workload that knows its own numbers, for examples/python.yml.

    python3.11 examples/python_workload.py [--wait-signal] [--functions N] [--rounds R]

It calls its functions a known number of times (fib(20): 21891 calls;
f_000 .. f_<N-1>: i % 7 + 1 calls each; per round, a 50-step generator and
50 Point objects), runs the garbage collector (as allocations trigger it
and by gc.collect()), then prints one line of what CPython reported:

    done calls.__init__=1000 ... calls.fib=21891 gc.0=7 gc.1=8 gc.2=7 gc.unreachable=4046

- calls.NAME: the frames of functions named NAME entered, as a profile
  function (sys.setprofile) sees them: calls, and a generator's every
  resumption. CPython 3.11 fires python:function__entry only while a
  profile or trace function is set (cpython gh-98894), at the same place
  it calls that function with "call", and never for the profile function's
  own frames: so the work runs under the profile function that counts;
- gc.G: collections of generation G, the difference of gc.get_stats() over
  the work, each a python:gc__start with G as its argument;
- gc.unreachable: the objects those collections found unreachable
  (collected plus uncollectable), the sum of python:gc__done's argument.

--wait-signal prints "ready PID" and waits for SIGUSR1 before the work (so a
tracer can attach first), and for a second SIGUSR1 after the line, before
exiting (the interpreter's shutdown runs Python code of its own).
"""
import gc
import os
import signal
import sys
import types

CALLS = {}


def profile(frame, event, arg):
    """The profile function: counts the frames CPython reports entering."""
    if event == "call":
        name = frame.f_code.co_name
        CALLS[name] = CALLS.get(name, 0) + 1


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def countdown(n):
    while n:
        yield n
        n -= 1


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def norm2(self):
        return self.x * self.x + self.y * self.y


def template():
    pass


def make_functions(n):
    """n functions named f_000, f_001, ...: distinct names for the budget."""
    code = template.__code__
    return [types.FunctionType(code.replace(co_name=f"f_{i:03d}"), globals())
            for i in range(n)]


def arguments(argv):
    opts = {"--functions": 100, "--rounds": 20, "--wait-signal": False}
    i = 1
    while i < len(argv):
        if argv[i] == "--wait-signal":
            opts["--wait-signal"] = True
        elif argv[i] in opts and i + 1 < len(argv):
            opts[argv[i]] = int(argv[i + 1])
            i += 1
        else:
            sys.exit(f"usage: {argv[0]} [--wait-signal] [--functions N] [--rounds R]")
        i += 1
    return opts


opts = arguments(sys.argv)
functions = make_functions(opts["--functions"])
rounds = opts["--rounds"]
if opts["--wait-signal"]:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    print(f"ready {os.getpid()}", flush=True)
    signal.sigwait({signal.SIGUSR1})

# ---- the work, under the profile function ----------------------------------
before = gc.get_stats()
sys.setprofile(profile)
fib(20)
for i in range(len(functions)):
    f = functions[i]
    for _ in range(i % 7 + 1):
        f()
points = []
for r in range(rounds):
    total = 0
    for v in countdown(50):
        p = Point(v, r)
        total += p.norm2()
        points.append(p)
    for _ in range(200):
        cycle = []
        cycle.append(cycle)          # garbage only a collection finds
    gc.collect(r % 3)
del points, cycle
gc.collect()
sys.setprofile(None)
gc.disable()                         # no collection after the last snapshot
after = gc.get_stats()
# ---- the line ----------------------------------------------------------------
out = ["done"]
for name in sorted(CALLS):
    out.append(f"calls.{name}={CALLS[name]}")
unreachable = 0
for g in range(len(after)):
    out.append(f"gc.{g}={after[g]['collections'] - before[g]['collections']}")
    unreachable += after[g]["collected"] - before[g]["collected"]
    unreachable += after[g]["uncollectable"] - before[g]["uncollectable"]
out.append(f"gc.unreachable={unreachable}")
print(" ".join(out), flush=True)
if opts["--wait-signal"]:
    signal.sigwait({signal.SIGUSR1})
