"""The native env harness: write one env's physics as three small functions, get N of them in numba threads.

A native env is a subclass of `NativeVecEnv` that declares its spaces, the number of float64 state
variables per env and a time limit, and three static methods in numba's subset of Python:

    reset_env(state, rng)                 draw env's initial state into `state` (float64[state_size])
    step_env(state, action, rng) -> (reward, terminated)
                                          advance `state` in place by one action
    observe(state, obs)                   write the observation of `state` into `obs`

`action` is an integer for a `Discrete` action space and a 1-D array row for a `Box` one. `rng` is
the env's own random stream (see `uniform`/`normal`/`randint` below). The subclass gets, for free,
struct-of-arrays state for all envs, `reset`/`step` kernels parallel across threads with `prange`,
same-step autoreset, final observations, time-limit truncation, per-env seeding (env `i` gets
`seed + i`, whatever the number of threads), episode statistics and `state_dict` checkpoints.

The three functions run inside kernels compiled without numba's reference counting (it costs an
atomic operation per array per env, more than CartPole's physics), so they must not allocate
arrays: write into `state` and `obs`, compute with scalars, read module-level constant arrays.
Division follows NumPy (x / 0 is inf, no exception), as Gymnasium's NumPy arithmetic does.

Kernels are compiled once per env class and cached on disk next to the env's source file (numba
`cache=True`), so a second process pays no compile. numba cannot cache a kernel that closes over
other jitted functions, so the harness generates each class's kernels from one template with
the class's functions as globals, compiled under the env module's filename; the kernel names
carry a hash of the harness and env sources and of the class's functions' code, so editing either
compiles afresh and two classes of the same name in one file get kernels of their own. Functions
that close over variables (a class made by a factory) are compiled in each process, not cached:
numba freezes the variables' values into the code.

Mistakes are named before anything compiles, when the class is defined (a `TypeError`): a function
that is missing, is not a `@staticmethod`, or takes the wrong number of arguments; a missing or
non-positive `state_size`; spaces of the wrong kind; and any use of `np.random` or Python's `random`
in an env function (or in a jitted helper it calls), which would draw from a global generator that
`reset(seed=...)` does not seed: draw from the env's `rng` with `uniform`/`normal`/`randint`. When the
kernels do not compile, each function is compiled on its own to find which one fails and at which
line of its own source, and a `step_env` that does not return `(reward, terminated)` is named.

Debug mode. The fast kernels do not check indices: writing past `state` or `obs` silently overwrites
the next env's numbers, or memory outside the arrays (a crash much later, such as "double free or
corruption"). Set `THRUST_NATIVE_DEBUG=1` in the environment, or `debug = True` on the class (or on
`NativeVecEnv` for every env), and envs built from then on run bounds-checked kernels (numba
`boundscheck=True`), compiled afresh in each process and never cached, so the fast kernels' disk
cache is neither read nor overwritten. An index out of bounds then raises an `IndexError` naming the
env class, the function, the env, the line and the index (the failing call is replayed in plain
Python to find the line); an `observe` that leaves part of a floating-point `obs` unwritten raises a
`ValueError`. Debug kernels run on one thread, and slower (CartPole at 4096 envs: 18M steps/s, 28M
without): use them to find a bug, not to train. Helpers the env functions call keep their own
`@numba.njit` options (add `boundscheck=True` there to check them too).
"""

from __future__ import annotations

import builtins
import dis
import hashlib
import inspect
import linecache
import math
import os
import random
import re
import sys
import traceback
import types
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numba
import numpy as np

from thrust.vector.base import VecEnv
from thrust.vector.spec import EnvSpec, check_backend

# numba's default threading layer here is OpenMP, whose idle threads spin: when anything else wants the
# cores (torch between env steps, other processes), a 4096-env CartPole step on 2 cores was measured
# 100x slower with 2 OpenMP threads than serially; the workqueue layer, whose threads sleep, degrades
# gracefully (see BENCHMARKS.md). The layer is per process and fixed at the first parallel launch, so
# this applies only when neither the user (NUMBA_THREADING_LAYER) nor earlier code has chosen it.
if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

# -- per-env random streams ------------------------------------------------------------------------
# SplitMix64: one uint64 of state per env, a counter stepped by an odd constant and mixed. Each env's
# stream depends only on its own seed, so trajectories do not depend on how envs map to threads.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_TO_MINUS_53 = 1.0 / 9007199254740992.0


@numba.njit(inline="always")
def next_uint64(rng: np.ndarray) -> np.uint64:
    """The next 64 random bits of the stream `rng` (a one-element uint64 array, advanced in place)."""
    z = rng[0] + _GAMMA
    rng[0] = z
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@numba.njit(inline="always")
def uniform(rng: np.ndarray, low: float, high: float) -> float:
    """A float64 uniform on [low, high), like `np.random.Generator.uniform` (53 random bits)."""
    return low + (high - low) * (np.float64(next_uint64(rng) >> _S11) * _TWO_TO_MINUS_53)


@numba.njit(inline="always")
def randint(rng: np.ndarray, low: int, high: int) -> int:
    """An integer uniform on [low, high) (modulo bias below 2**-40 for ranges under 2**24)."""
    return low + np.int64(next_uint64(rng) % np.uint64(high - low))


@numba.njit
def normal(rng: np.ndarray, mean: float, std: float) -> float:
    """A float64 Gaussian sample (Box-Muller)."""
    u1 = 1.0 - np.float64(next_uint64(rng) >> _S11) * _TWO_TO_MINUS_53  # in (0, 1]: log is finite
    u2 = np.float64(next_uint64(rng) >> _S11) * _TWO_TO_MINUS_53
    return mean + std * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@numba.njit(inline="always")
def numpy_square(x: float) -> float:
    """`x ** 2` exactly as NumPy computes it for a float64 scalar: C `pow`, which is not always `x * x`.

    Reproducing a chaotic reference (Acrobot) over hundreds of steps needs its last bit. The
    exponent is written so that LLVM cannot see a constant 2.0 and rewrite the call into `x * x`.
    """
    return math.pow(x, 2.0 + 0.0 * x)


@numba.njit(inline="always")
def numpy_square32(x: np.float32) -> np.float32:
    """`x ** 2` as NumPy computes it for a float32 scalar: C `powf` (see `numpy_square`)."""
    return math.pow(x, np.float32(2.0) + np.float32(0.0) * x)


def seed_streams(rng_states: np.ndarray, seed: int | None) -> None:
    """Seed stream `i` with `seed + i` (a fresh random base seed when `seed` is None)."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or None, got {type(seed).__name__}")
    rng_states[:, 0] = np.uint64(int(seed) % 2**64) + np.arange(len(rng_states), dtype=np.uint64)


# -- kernels ---------------------------------------------------------------------------------------
# `{p}` is the env class's prefix; `reset_env`, `step_env`, `observe` are its jitted functions.
# The loop body is pasted into both kernels rather than called, and the kernels run without numba's
# reference counting: passing arrays to a helper and taking row views otherwise cost atomic increments and
# decrements per array per env (CartPole's kernel measured 8x slower).
_STEP_BODY = '''
        state = states[i]
        rng = rng_states[i]
        reward, terminated = {p}step_env(state, actions[i], rng)
        running_returns[i] += reward
        running_lengths[i] += 1
        truncated = running_lengths[i] >= max_episode_steps
        rewards[i] = reward
        terminations[i] = terminated
        truncations[i] = truncated
        if terminated or truncated:
            {p}observe(state, final_observations[i])
            final_mask[i] = True
            episode_returns[i] = running_returns[i]
            episode_lengths[i] = running_lengths[i]
            running_returns[i] = 0.0
            running_lengths[i] = 0
            {p}reset_env(state, rng)
        else:
            final_mask[i] = False
        {p}observe(state, observations[i])
'''

_KERNEL_TEMPLATE = '''
@numba.njit(parallel=True, cache=CACHE, error_model="numpy", _nrt=False)
def {p}step_parallel(states, rng_states, actions, observations, rewards, terminations, truncations,
                     final_observations, final_mask, episode_returns, episode_lengths, running_returns,
                     running_lengths, max_episode_steps):
    for i in numba.prange(states.shape[0]):
{body}

@numba.njit(cache=CACHE, error_model="numpy", _nrt=False)
def {p}step_serial(states, rng_states, actions, observations, rewards, terminations, truncations,
                   final_observations, final_mask, episode_returns, episode_lengths, running_returns,
                   running_lengths, max_episode_steps):
    for i in range(states.shape[0]):
{body}

@numba.njit(cache=CACHE, error_model="numpy", _nrt=False)
def {p}reset_all(states, rng_states, observations):
    for i in range(states.shape[0]):
        {p}reset_env(states[i], rng_states[i])
        {p}observe(states[i], observations[i])
'''

# Debug kernels: serial, bounds-checked, never cached. Before each call of an env function,
# `_debug_mark` records which function runs for which env, and copies of its `state` and `rng`, so that
# an IndexError can be replayed in plain Python to find the line (see `NativeVecEnv._index_error`).
_DEBUG_TEMPLATE = '''
@numba.njit(boundscheck=True, error_model="numpy", _nrt=False)
def {p}step_serial(states, rng_states, actions, observations, rewards, terminations, truncations,
                   final_observations, final_mask, episode_returns, episode_lengths, running_returns,
                   running_lengths, max_episode_steps, where, saved_state, saved_rng):
    for i in range(states.shape[0]):
{body}

@numba.njit(boundscheck=True, error_model="numpy", _nrt=False)
def {p}reset_all(states, rng_states, observations, where, saved_state, saved_rng):
    for i in range(states.shape[0]):
        state = states[i]
        rng = rng_states[i]
        {p}reset_env(state, rng)
        {p}observe(state, observations[i])
'''

_FUNCTIONS = {"reset_env": ("state", "rng"), "step_env": ("state", "action", "rng"), "observe": ("state", "obs")}
_FUNCTION_CODES = {name: code for code, name in enumerate(_FUNCTIONS)}


@numba.njit(inline="always", _nrt=False)
def _debug_mark(where, function, i, state, rng, saved_state, saved_rng):
    where[0] = function
    where[1] = i
    for k in range(state.shape[0]):
        saved_state[k] = state[k]
    saved_rng[0] = rng[0]


def _mark_calls(body: str) -> str:
    """`body` with a `_debug_mark` line before each call of an env function."""
    lines = []
    for line in body.splitlines():
        call = re.match(r"(\s*).*\{p\}(reset_env|step_env|observe)\(", line)
        if call:
            code = _FUNCTION_CODES[call.group(2)]
            lines.append(f"{call.group(1)}_debug_mark(where, {code}, i, state, rng, saved_state, saved_rng)")
        lines.append(line)
    return "\n".join(lines)


_HARNESS_SOURCE = Path(__file__).read_bytes()


def _build_kernels(cls: type[NativeVecEnv], debug: bool = False) -> dict[str, Any]:
    """Compile-on-first-call kernels for one env class, cached on disk next to its source file.

    `debug`: the bounds-checked kernels instead, never cached, taking three more arguments (`where`,
    `saved_state`, `saved_rng`: see `_debug_mark`); "step_parallel" is then the serial kernel.
    """
    module_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    has_file = module_file is not None and os.path.exists(module_file)  # not for classes typed into a REPL
    functions = [_env_function(cls, name) for name in cls.env_functions]
    # numba freezes closure variables into the code: a kernel cached for one closure would serve another
    cache = has_file and not debug and not any(fn.__closure__ for fn in functions)
    env_source = Path(module_file).read_bytes() if has_file else b""
    # The functions' code too: classes of the same name in one file (made by a factory, say) get their own
    # kernels, where the cache would otherwise hand one class's kernels to the other.
    identity = repr([cls.__qualname__, *map(_code_identity, (fn.__code__ for fn in functions))]).encode()
    digest = hashlib.sha256(_HARNESS_SOURCE + env_source + identity).hexdigest()[:10]
    prefix = f"{cls.__name__}_{digest}_{'debug_' if debug else ''}"
    options = {"boundscheck": True} if debug else {}
    namespace: dict[str, Any] = {
        "__name__": cls.__module__,  # numba's cache rebuilds the kernel's environment from this module
        "numba": numba,
        "CACHE": cache,
        "_debug_mark": _debug_mark,
    }
    for name, fn in zip(cls.env_functions, functions, strict=True):
        namespace[prefix + name] = numba.njit(inline="always", **options)(fn)
    if debug:
        body = _mark_calls(cls.step_body.strip("\n"))
        source = _mark_calls(_DEBUG_TEMPLATE).format(p=prefix, body=body.format(p=prefix))
        filename = f"<thrust debug kernels of {cls.__qualname__}>"
    else:
        source = _KERNEL_TEMPLATE.format(p=prefix, body=cls.step_body.format(p=prefix).strip("\n"))
        filename = module_file if cache else "<thrust kernels>"
    exec(compile(source, filename, "exec"), namespace)  # the kernels' globals: this class's functions
    kernels = {name: namespace[prefix + name] for name in ("step_serial", "reset_all")}
    kernels["step_parallel"] = kernels["step_serial"] if debug else namespace[prefix + "step_parallel"]
    return kernels


def _code_identity(code: types.CodeType) -> tuple[Any, ...]:
    """What tells one function's code from another's, the same in every process (unlike `marshal`)."""
    consts = tuple(_code_identity(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts)
    return code.co_name, code.co_firstlineno, code.co_code, code.co_names, code.co_varnames, consts


# -- what the harness checks before compiling ------------------------------------------------------


def _env_function(cls: type, name: str) -> Any:
    """The plain Python function behind `cls.<name>` (a staticmethod, checked by `_check_declarations`)."""
    return inspect.getattr_static(cls, name).__func__


def _check_declarations(cls: type) -> None:
    """Raise a TypeError naming the first thing `cls` declares wrongly, before anything compiles."""
    name = cls.__name__
    missing = [f for f in cls.env_functions if not callable(getattr(cls, f, None))]
    if missing:
        raise TypeError(f"{name} must define the static methods {missing}")
    for function in cls.env_functions:
        _check_function(cls, function)
    size = getattr(cls, "state_size", None)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        got = "it is missing" if size is None else f"got {size!r}"
        raise TypeError(
            f"{name}.state_size must be a positive int, the number of float64 numbers that describe one env; {got}"
        )
    observation_space = getattr(cls, "single_observation_space", None)
    if not isinstance(observation_space, gym.spaces.Box):
        raise TypeError(
            f"{name}.single_observation_space must be a gymnasium.spaces.Box, got {observation_space!r}"
        )
    action_space = getattr(cls, "single_action_space", None)
    if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise TypeError(f"{name}.single_action_space must be a Discrete or Box space, got {action_space!r}")


def _check_function(cls: type, function: str) -> None:
    """Raise a TypeError if `cls.<function>` is not a static method of the right arguments, or draws from a
    global random generator."""
    name, parameters = cls.__name__, cls.env_functions[function]
    call = f"{function}({', '.join(parameters)})"
    attribute = inspect.getattr_static(cls, function)
    if not isinstance(attribute, staticmethod):
        kind = "a @classmethod" if isinstance(attribute, classmethod) else "a plain method"
        fix = "put @staticmethod above it"
        if isinstance(attribute, types.FunctionType):
            first = next(iter(inspect.signature(attribute).parameters), None)
            if first in ("self", "cls"):
                fix = f"remove `{first}` and put @staticmethod above it"
        raise TypeError(
            f"{name}.{function} must be a @staticmethod, not {kind}: the harness calls it as {call} for "
            f"one env, with no `self`; {fix}"
        )
    fn = attribute.__func__
    if isinstance(fn, numba.core.dispatcher.Dispatcher):
        raise TypeError(
            f"{name}.{function} is already compiled by numba: write it as a plain function under "
            "@staticmethod (the harness compiles it into its kernels)"
        )
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"{name}.{function} must be a Python function, got {type(fn).__name__}")
    signature = inspect.signature(fn)
    kinds = {p.kind for p in signature.parameters.values()}
    positional = [p for p in signature.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    if len(positional) != len(parameters) or kinds - {inspect.Parameter.POSITIONAL_OR_KEYWORD}:
        raise TypeError(
            f"{name}.{function} must take {len(parameters)} arguments, {call}; "
            f"it is declared as {function}{signature}"
        )
    uses = _global_random_uses(fn)
    if uses:
        hint = (" (observe gets no rng: keep the randomness in reset_env/step_env, and what observe needs "
                "in the state)" if function == "observe" else "")
        raise TypeError(
            f"{name}.{function} uses {uses[0]}: the global random generators of numpy and of Python's "
            "`random` module are not seeded by reset(seed=...) and are shared by every env and thread, so "
            "runs would not repeat. Draw from the env's own stream, the `rng` argument: "
            f"thrust.envs.uniform(rng, low, high), normal(rng, mean, std) or randint(rng, low, high){hint}"
        )


def _is_global_random(obj: Any) -> bool:
    """Whether `obj` is numpy's or Python's global-state random machinery (module, function or generator)."""
    try:
        if isinstance(obj, types.ModuleType):
            return obj.__name__ == "random" or obj.__name__.startswith("numpy.random")
        if isinstance(getattr(obj, "__self__", None), (np.random.RandomState, np.random.Generator, random.Random)):
            return True
        module = getattr(obj, "__module__", None)
        return isinstance(module, str) and (module == "random" or module.startswith("numpy.random"))
    except Exception:  # an object with an unusual __getattr__: not what we look for
        return False


_MISSING = object()
_RANDOM_USES: dict[types.FunctionType, list[str]] = {}  # per function: helpers are scanned once per process


def _global_random_uses(fn: types.FunctionType, seen: frozenset[int] = frozenset()) -> list[str]:
    """The dotted names (`np.random.uniform`) through which `fn`, or a jitted function it calls, reaches
    numpy's or Python's global random generators, read from its bytecode."""
    if fn in _RANDOM_USES:
        return _RANDOM_USES[fn]
    if id(fn) in seen:  # recursion
        return []
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))

    def resolve(name: str) -> Any:
        if name in cells:
            try:
                return cells[name].cell_contents
            except ValueError:  # an empty cell
                return _MISSING
        return fn.__globals__.get(name, getattr(builtins, name, _MISSING))

    codes, stack = [], [fn.__code__]
    while stack:
        codes.append(stack.pop())
        stack += [const for const in codes[-1].co_consts if isinstance(const, types.CodeType)]
    names = {name for code in codes for name in (*code.co_names, *code.co_freevars)}
    # What the names reach: globals, and attributes of global modules (`math.sin`, `thrust.envs.uniform`)
    reached = [resolve(name) for name in names]
    reached += [getattr(module, name, None) for module in reached if isinstance(module, types.ModuleType)
                for name in names]
    found: list[str] = []
    if "random" in names or any(_is_global_random(obj) for obj in reached):
        found += _dotted_random_names(codes, resolve)
    for helper in reached:
        if isinstance(helper, numba.core.dispatcher.Dispatcher):  # a jitted helper: look inside it too
            found += _global_random_uses(helper.py_func, seen | {id(fn)})
    _RANDOM_USES[fn] = found
    return found


def _dotted_random_names(codes: list[types.CodeType], resolve: Any) -> list[str]:
    """The chains of global and attribute loads in `codes` that reach global random machinery."""
    found = []
    for code in codes:
        chain: list[Any] | None = None  # [dotted name, object, whether any object on the way is random]
        for instruction in [*dis.get_instructions(code), None]:
            op = instruction.opname if instruction is not None else None
            if op in ("LOAD_ATTR", "LOAD_METHOD") and chain is not None:
                step = getattr(chain[1], instruction.argval, _MISSING) if chain[1] is not _MISSING else _MISSING
                chain = [f"{chain[0]}.{instruction.argval}", step, chain[2] or _is_global_random(step)]
                continue
            if chain is not None and chain[2]:  # the chain of attribute loads ends here
                found.append(chain[0])
            chain = None
            if op in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"):
                step = resolve(instruction.argval)
                chain = [instruction.argval, step, _is_global_random(step)]
    return found


def debug_requested() -> bool:
    """Whether the environment asks for debug kernels: THRUST_NATIVE_DEBUG set, and not to 0, false, no, off."""
    return os.environ.get("THRUST_NATIVE_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


# Signaling NaNs with a payload no arithmetic produces: what the debug kernels' observation buffer holds
# before `observe` runs, so that entries it leaves unwritten can be found.
_UNWRITTEN = {np.dtype(np.float32): np.uint32(0x7FA5A5A5), np.dtype(np.float64): np.uint64(0x7FF4A5A5A5A5A5A5)}


def _mark_unwritten(observations: np.ndarray) -> Any:
    """Fill floating-point `observations` with the unwritten marker and return it (None: other dtypes)."""
    sentinel = _UNWRITTEN.get(observations.dtype)
    if sentinel is not None:
        observations.view(sentinel.dtype)[...] = sentinel
    return sentinel


def _with_cause(error: Exception, cause: BaseException | None) -> Exception:
    """`error` to raise, chained from `cause` only (None: from nothing)."""
    error.__cause__, error.__suppress_context__ = cause, True
    return error


def _shown_path(filename: str) -> str:
    """`filename` relative to the working directory when it lies below it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def _user_line(error: Exception, fn: types.FunctionType) -> str:
    """" at FILE, line N: `source`" for the line of `fn` that numba's `error` is about ("" if none)."""
    filename = fn.__code__.co_filename
    try:
        source, first = inspect.getsourcelines(fn)
        lines = range(first, first + len(source))
    except (OSError, TypeError):
        lines = range(0)
    candidates = []
    loc = getattr(error, "loc", None)
    if loc is not None and getattr(loc, "filename", None) == filename and loc.line is not None:
        candidates.append(int(loc.line))
    candidates += [int(n) for n in re.findall(re.escape(filename) + r" \((\d+)\)", str(error))]
    inside = [n for n in candidates if n in lines] or candidates
    if not inside:
        return ""
    text = linecache.getline(filename, inside[0]).strip()
    return f" at {_shown_path(filename)}, line {inside[0]}" + (f": `{text}`" if text else "")


def _numba_summary(error: Exception) -> str:
    """The informative first lines of a numba compile error (the rest is in the chained exception)."""
    kept = []
    for line in str(error).splitlines():
        line = line.strip()
        if not line or line.startswith(("Failed in nopython mode pipeline", "raised from")):
            continue
        if line.startswith(("There are ", "During:", "File \"", "- Resolution failure", "- Of which")):
            break
        kept.append(line)
    return " ".join(kept[:6]) or str(error).splitlines()[0]


class NativeVecEnv(VecEnv):
    """N copies of an environment whose physics are numba functions, stepped by one kernel call.

    Subclasses declare `single_observation_space` (a `Box`), `single_action_space` (`Discrete` or
    `Box`), `state_size`, `max_episode_steps` and the static methods `reset_env`, `step_env`,
    `observe` (see the module docstring). `num_threads` caps numba's threads for this env's kernels
    (None: numba's default, one per core). With one thread, or fewer than `parallel_threshold` envs,
    a serial kernel runs instead of the `prange` one: waking threads costs more than it saves on
    small batches (benchmarks/env_throughput.py measures where the two cross). `env_spec` defaults to
    the class's id (its key in `thrust.envs.registry`, else `gymnasium_id`) and the keyword arguments given,
    with `options`: a subclass's own constructor arguments (those that differ from their defaults), so
    that `thrust.make(envs.env_spec)` makes the same env again.
    `debug` (or the environment variable THRUST_NATIVE_DEBUG=1) selects bounds-checked kernels for envs
    built from then on (see the module docstring).
    """

    single_observation_space: ClassVar[gym.spaces.Box]
    single_action_space: ClassVar[gym.spaces.Space]
    state_size: ClassVar[int]
    max_episode_steps: ClassVar[int | None] = None
    gymnasium_id: ClassVar[str | None] = None  # a Gymnasium env whose renderer draws this env's state
    parallel_threshold: ClassVar[int] = 16384  # measured on 2 shared cores: see BENCHMARKS.md
    debug: bool = False  # bounds-checked kernels (also with THRUST_NATIVE_DEBUG=1); an instance's: what it runs
    metadata: ClassVar[dict[str, Any]] = {**VecEnv.metadata, "render_modes": []}
    _kernels: ClassVar[dict[str, Any]]
    _debug_kernels: ClassVar[dict[str, Any] | None]

    reset_env: ClassVar[Any]
    step_env: ClassVar[Any]
    observe: ClassVar[Any]
    # What a kind of native env declares (single-agent here; `thrust.envs.multiagent` for A agents per env): its
    # functions' arguments, the kernels' loop body, its agents per env, and whether step_env returns a reward.
    env_functions: ClassVar[dict[str, tuple[str, ...]]] = _FUNCTIONS
    step_body: ClassVar[str] = _STEP_BODY
    agents_per_env: int = 1
    step_returns_reward: ClassVar[bool] = True

    def __init_subclass__(cls, harness: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if harness:  # a kind of native env (subclassed by the envs themselves): nothing to compile
            return
        _check_declarations(cls)
        if cls.gymnasium_id is not None:  # rendered by the Gymnasium env, at its frame rate
            gymnasium_env = gym.envs.registration.load_env_creator(gym.spec(cls.gymnasium_id).entry_point)
            fps = getattr(gymnasium_env, "metadata", {}).get("render_fps")
            cls.metadata = {**cls.metadata, "render_modes": ["rgb_array"], "render_fps": fps}
        cls._kernels = _build_kernels(cls)
        cls._debug_kernels = None  # built on first use, per class: see `_debug_kernel_set`

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None = None,
        num_threads: int | None = None,
        render_mode: str | None = None,
        parallel_threshold: int | None = None,
        env_spec: EnvSpec | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        if env_spec is None:
            given = {
                "max_episode_steps": max_episode_steps, "num_threads": num_threads, "render_mode": render_mode,
                "parallel_threshold": parallel_threshold, **(options or {}),
            }
            kwargs = {key: value for key, value in given.items() if value is not None}
            env_spec = EnvSpec(id=self.registered_id(), kwargs=kwargs, backend="native")
        check_backend(env_spec, "native")
        A = self.agents_per_env
        super().__init__(self.single_observation_space, self.single_action_space, num_envs * A, env_spec=env_spec)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be one of {[None, *self.metadata['render_modes']]}, got {render_mode!r}"
            )
        if num_threads is not None and not 1 <= num_threads <= numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"num_threads must lie in [1, {numba.config.NUMBA_NUM_THREADS}], got {num_threads}")
        limit = self.max_episode_steps if max_episode_steps is None else max_episode_steps
        if limit is not None and limit < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {limit}")
        self.max_episode_steps = limit
        self.num_threads = num_threads
        self.render_mode = render_mode
        self._time_limit = np.iinfo(np.int64).max if limit is None else limit
        if parallel_threshold is not None:
            self.parallel_threshold = parallel_threshold
        self.debug = bool(self.debug) or debug_requested()
        if self.debug:
            self._kernels = self._debug_kernel_set()
        serial = num_threads == 1 or num_envs < self.parallel_threshold
        self._step_kernel = self._kernels["step_serial" if serial else "step_parallel"]
        self.states = np.zeros((num_envs, self.state_size), dtype=np.float64)
        self.rng_states = np.zeros((num_envs, 1), dtype=np.uint64)
        self.running_returns = np.zeros(num_envs if A == 1 else (num_envs, A), dtype=np.float64)
        self.running_lengths = np.zeros(num_envs, dtype=np.int64)
        discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        action_dtype = np.int64 if discrete else self.single_action_space.dtype
        self._actions = np.zeros((num_envs * A, *self.single_action_space.shape), dtype=action_dtype)
        self._env_ids = np.arange(num_envs * A)
        # What the kernels get: per env (with several agents, each row array seen as [envs, agents, ...]).
        per_env = (lambda array: array) if A == 1 else (lambda array: array.reshape(num_envs, A, *array.shape[1:]))
        self._kernel_arrays = (
            self.states, self.rng_states, *map(per_env, (
                self._actions, self.observations, self.rewards, self.terminations, self.truncations,
                self.final_observations, self.final_mask, self.episode_returns, self.episode_lengths)),
            self.running_returns, self.running_lengths,
        )
        self._render_env: gym.Env | None = None
        self._seeded = False  # a reset without a seed continues each env's stream once there is one

    @classmethod
    def registered_id(cls) -> str | None:
        """This class's key in `thrust.envs.registry` (what `thrust.make` knows it by), else its `gymnasium_id`."""
        from thrust.envs import registry  # the package that imports this module: loaded before any env exists

        return next((key for key, value in registry.items() if value is cls), cls.gymnasium_id)

    # -- VecEnv ----------------------------------------------------------------------------------

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        if options:
            raise ValueError(f"{type(self).__name__} takes no reset options, got {options}")
        if seed is not None or not self._seeded:
            seed_streams(self.rng_states, seed)
            self._seeded = True
        try:
            self._kernels["reset_all"](*self._kernel_arrays[:2], self._kernel_arrays[3])
        except numba.core.errors.NumbaError as error:
            raise self._compile_error(error)  # noqa: B904 (its cause is set: the error that says most)
        self.running_returns[:] = 0.0
        self.running_lengths[:] = 0

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        if env_ids is not None and not np.array_equal(env_ids, self._env_ids):
            raise ValueError(f"{type(self).__name__} steps all envs at once: pass env_ids=None")
        np.copyto(self._actions, actions, casting="same_kind")

    def _recv(self):
        previous_threads = None
        if self.num_threads is not None and self._step_kernel is self._kernels["step_parallel"]:
            previous_threads = numba.get_num_threads()
            numba.set_num_threads(self.num_threads)
        try:
            self._step_kernel(*self._kernel_arrays, self._time_limit)
        except numba.core.errors.NumbaError as error:
            raise self._compile_error(error)  # noqa: B904 (its cause is set: the error that says most)
        finally:
            if previous_threads is not None:
                numba.set_num_threads(previous_threads)
        return self.observations, self.rewards, self.terminations, self.truncations, self.infos, self._env_ids

    # -- errors ----------------------------------------------------------------------------------

    def _argument_types(self) -> dict[str, tuple[Any, ...]]:
        """The numba types the kernels give each env function."""
        rows = self._argument_rows()
        return {function: tuple(numba.typeof(rows[name]) for name in names)
                for function, names in self.env_functions.items()}

    def _argument_rows(self) -> dict[str, np.ndarray]:
        """What the kernels give env 0's functions, by argument name."""
        arrays = self._kernel_arrays
        return {"state": arrays[0][0], "rng": arrays[1][0], "action": arrays[2][0], "actions": arrays[2][0],
                "obs": arrays[3][0], "rewards": arrays[4][0]}

    def _arguments(self, function: str | None = None) -> str:
        """What `function` (None: each env function) gets, in words: "state float64[4], rng uint64[1]"."""
        rows = self._argument_rows()
        names = self.env_functions[function] if function is not None else \
            dict.fromkeys(name for names in self.env_functions.values() for name in names)
        return ", ".join(
            f"{name} {rows[name].dtype}{list(rows[name].shape) if rows[name].ndim else ''}" for name in names
        )

    def _compile_error(self, error: Exception) -> TypeError:
        """The kernels do not compile: say which function fails at which of its lines, or what is wrong.

        Each env function is compiled on its own, with the types the kernels give it, so that numba's
        error names the user's own line (the kernels' lines are the harness template's).
        """
        name = type(self).__name__
        for function, argument_types in self._argument_types().items():
            fn = _env_function(type(self), function)
            alone = numba.njit(error_model="numpy", _nrt=False)(fn)
            try:
                alone.compile(argument_types)
            except numba.core.errors.NumbaError as function_error:
                where = _user_line(function_error, fn)
                try:  # compiles with numba's reference counting: then the only fault is an allocation
                    numba.njit(error_model="numpy")(fn).compile(argument_types)
                except numba.core.errors.NumbaError:
                    message = (f"{name}.{function} does not compile as numba nopython code{where}. It gets "
                               f"{self._arguments(function)}. numba says: {_numba_summary(function_error)}")
                else:
                    message = (f"{name}.{function} allocates an array{where}: env functions must not allocate "
                               "(no np.zeros, np.array, .copy(), array arithmetic such as state[:2] * 2), "
                               "because the kernels run without numba's reference counting; write into `state` "
                               "and `obs` and compute with scalars")
                return _with_cause(TypeError(message), function_error)
            if function == "step_env" and self.step_returns_reward:
                returned = alone.nopython_signatures[-1].return_type
                scalars = (numba.types.Number, numba.types.Boolean)
                if not (isinstance(returned, numba.types.BaseTuple) and len(returned) == 2
                        and all(isinstance(t, scalars) for t in returned)):
                    if isinstance(returned, numba.types.BaseTuple):
                        got = f"{len(returned)} values, {numba.types.unliteral(returned)}"
                    elif isinstance(returned, numba.types.NoneType):
                        got = "nothing (None)"
                    else:
                        got = f"one value, {numba.types.unliteral(returned)}"
                    return _with_cause(TypeError(
                        f"{name}.step_env must return two numbers, `return reward, terminated` (a float and a "
                        f"bool); it returns {got}"
                    ), None)
        return _with_cause(TypeError(
            f"{name}'s kernels do not compile, although reset_env, step_env and observe each compile on their own "
            f"(they get {self._arguments()}). numba says: {_numba_summary(error)} (the line numbers in the chained "
            "error are those of the harness's kernel template, not of your file)"
        ), error)

    def _debug_kernel_set(self) -> dict[str, Any]:
        """This env's bounds-checked kernels, behind the fast kernels' call signatures."""
        cls = type(self)
        if cls._debug_kernels is None:
            cls._debug_kernels = _build_kernels(cls, debug=True)
        kernels = cls._debug_kernels
        where, saved_state = np.zeros(2, np.int64), np.zeros(self.state_size, np.float64)
        saved_rng = np.zeros(1, np.uint64)

        def run(kernel: Any, args: tuple[Any, ...], actions: np.ndarray | None, observations: np.ndarray) -> None:
            sentinel = _mark_unwritten(observations)
            try:
                kernel(*args, where, saved_state, saved_rng)
            except IndexError as error:
                raise self._index_error(error, where, saved_state, saved_rng, actions, observations)  # noqa: B904
            if sentinel is not None:
                self._check_written(observations, sentinel)

        def step(*args: Any) -> None:
            run(kernels["step_serial"], args, args[2], args[3])

        def reset(states: np.ndarray, rng_states: np.ndarray, observations: np.ndarray) -> None:
            run(kernels["reset_all"], (states, rng_states, observations), None, observations)

        return {"step_parallel": step, "step_serial": step, "reset_all": reset}

    def _index_error(
        self, error: IndexError, where: np.ndarray, saved_state: np.ndarray, saved_rng: np.ndarray,
        actions: np.ndarray | None, observations: np.ndarray,
    ) -> IndexError:
        """A debug kernel's IndexError, replayed in plain Python on the same inputs to find the line."""
        function, env = list(_FUNCTIONS)[int(where[0])], int(where[1])
        fn = _env_function(type(self), function)
        state, rng = saved_state.copy(), saved_rng.copy()
        arguments = {"reset_env": (state, rng), "observe": (state, np.zeros_like(observations[env]))}
        if actions is not None:
            arguments["step_env"] = (state, actions[env], rng)
        detail, where_text, cause = str(error), "", error
        try:
            fn(*arguments[function])
        except IndexError as replayed:
            detail, cause = str(replayed), replayed
            replayed.__suppress_context__ = True  # numba's error says less
            frames = [f for f in traceback.extract_tb(replayed.__traceback__) if f.filename == fn.__code__.co_filename]
            if frames:
                where_text = f", at {_shown_path(frames[-1].filename)}, line {frames[-1].lineno}: `{frames[-1].line}`"
        except Exception:  # plain Python disagrees with numba here: report numba's error alone
            pass
        return _with_cause(IndexError(
            f"{type(self).__name__}.{function}, env {env}: {detail}{where_text}. It gets {self._arguments(function)}. "
            "Without bounds checks (debug mode off), an index past `state` or `obs` reads or overwrites other "
            "envs' numbers, or memory outside the arrays"
        ), cause)

    def _check_written(self, observations: np.ndarray, sentinel: Any) -> None:
        """Raise if `observe` left entries of some env's observation as `_mark_unwritten` filled them."""
        bits = observations.view(sentinel.dtype).reshape(self.num_envs, -1)
        unwritten = bits == sentinel
        if unwritten.any():
            env = int(np.flatnonzero(unwritten.any(axis=1))[0])
            index = np.unravel_index(int(np.flatnonzero(unwritten[env])[0]), observations.shape[1:])
            raise ValueError(
                f"{type(self).__name__}.observe left obs[{', '.join(map(str, index))}] unwritten for env {env}: "
                f"obs has shape {observations.shape[1:]} (single_observation_space) and observe must write "
                "every entry on every call"
            )

    # -- checkpoints -----------------------------------------------------------------------------

    _CHECKPOINTED = (
        "states", "rng_states", "running_returns", "running_lengths", "observations", "rewards", "terminations",
        "truncations", "final_observations", "final_mask", "episode_returns", "episode_lengths",
    )

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every array that determines the future: physics, random streams, counters, buffers."""
        state = {name: getattr(self, name).copy() for name in self._CHECKPOINTED}
        state["needs_reset"] = np.array(self._needs_reset)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a `state_dict()` in place (views handed out earlier stay valid)."""
        expected = {*self._CHECKPOINTED, "needs_reset"}
        if set(state) != expected:
            raise ValueError(f"state dict keys must be {sorted(expected)}, got {sorted(state)}")
        if self._pending:
            raise RuntimeError("load_state_dict() called while a send() is pending; call recv() first")
        for name in self._CHECKPOINTED:
            buffer = getattr(self, name)
            if state[name].shape != buffer.shape:
                raise ValueError(f"state[{name!r}] must have shape {buffer.shape}, got {state[name].shape}")
            np.copyto(buffer, state[name], casting="same_kind")
        self._needs_reset = bool(state["needs_reset"])
        self._seeded = True

    # -- rendering -------------------------------------------------------------------------------

    def gymnasium_state(self, state: np.ndarray) -> Any:
        """Env 0's state as the Gymnasium env's `state` attribute (used by `render`)."""
        return state.copy()

    def render(self) -> np.ndarray:
        """Env 0's current frame as an RGB array, drawn by Gymnasium's renderer of the same env."""
        if self.render_mode != "rgb_array":
            raise RuntimeError(f"render() needs render_mode='rgb_array' at construction, got {self.render_mode!r}")
        if self._needs_reset:
            raise RuntimeError("call reset() before render()")
        if self._render_env is None:
            self._render_env = gym.make(self.gymnasium_id, render_mode="rgb_array")
            self._render_env.reset(seed=0)
        self._render_env.unwrapped.state = self.gymnasium_state(self.states[0])
        return self._render_env.render()

    def close_extras(self, **kwargs: Any) -> None:
        if self._render_env is not None:
            self._render_env.close()
