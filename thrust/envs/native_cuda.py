"""Native envs on the GPU: the same `reset_env` / `step_env` / `observe` compiled by numba's CUDA target.

`thrust.make(env_id, num_envs, device="cuda")` (or `NativeCudaVecEnv(CartPole(num_envs))`) runs a native
env class's own functions as CUDA kernels, one thread per env, with the CPU harness's loop body
(`thrust.envs.native._STEP_BODY`: same-step autoreset, final observations, time-limit truncation, episode
statistics) pasted into them: nothing of an env is written twice. State, per-env random streams,
observations, rewards, flags, final observations and episode statistics live in device memory as torch
tensors, handed out without a copy (numba launches on views of them through `__cuda_array_interface__`);
actions are taken as tensors (a CUDA tensor costs one device-side copy into the env's action buffer).

Seeding is the CPU harness's: env `i` of `reset(seed=s)` draws from SplitMix64 seeded with `s + i`, so
the same seed gives the same trajectories as the CPU kernels wherever the device computes the env's
arithmetic as the CPU does. Integer and basic float arithmetic (+, −, ×, ÷, sqrt, comparisons) are
IEEE-exact on both; CUDA's `sin`, `cos`, `exp`, `log` and `pow` (libdevice) may differ from the CPU's libm
in the last bit, so envs that call them (CartPole, Acrobot, MountainCar, Pendulum) can drift apart from
their CPU twins after enough steps, chaotic ones (Acrobot) soonest.

Invalid actions (a Discrete action outside the space, a Box action that is NaN or infinite) are caught on
the device: that env is not stepped, and the `step` that finds the flag raises `ValueError`. Finding it
costs no synchronization: the flag is copied to host memory asynchronously, so on a GPU the error comes at
the step after the bad one or later (at once under the simulator, and at the next `reset`/`state_dict`).

Indices are not checked on the GPU either: find an env function's out-of-bounds write with the CPU env's
debug mode (`THRUST_NATIVE_DEBUG=1`, see `thrust.envs.native`). On a GPU, numba's CUDA target must be NVIDIA's
numba-cuda (`pip install 'thrust-rl[gpu]'`): numba's built-in one mistypes two-argument `min`/`max`.

Without a GPU, numba's CUDA simulator (`NUMBA_ENABLE_CUDASIM=1` in the environment before numba is
imported) runs the same kernels in Python threads, on host memory: tensors are then CPU tensors, and the
env functions run as Python (numba's CPU-compiled helpers such as `uniform` are swapped for their Python
originals, which the simulator can call). That is how the tests prove the kernels exact on the CPU, for
every built-in env and the example. The simulator computes with NumPy's scalar rules, where a Python float
meeting a float32 stays float32 (numba makes it float64): an env that mixes them without `np.float32(...)`
or `np.float64(...)` (the built-in ones never do) can differ under the simulator, not on a GPU.
"""

from __future__ import annotations

import math
import types
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numba import cuda

from thrust.cuda import check_cuda, device_array, launch, python_twin, simulated, tensor_device
from thrust.envs.native import _FUNCTIONS, _STEP_BODY, NativeVecEnv, _env_function, seed_streams
from thrust.vector.base import VecEnv
from thrust.vector.spec import EnvSpec

# The kernels: the CPU harness's loop body, one thread per env. An env whose action is invalid is not
# stepped; `errors[0]` then holds 1 + the index of such an env.
_CUDA_TEMPLATE = '''
@cuda.jit
def {p}step(states, rng_states, actions, observations, rewards, terminations, truncations, final_observations,
            final_mask, episode_returns, episode_lengths, running_returns, running_lengths, max_episode_steps,
            errors):
    i = cuda.grid(1)
    if i < states.shape[0] and {p}valid_action(actions[i]):
{body}
    elif i < states.shape[0]:
        errors[0] = i + 1

@cuda.jit
def {p}reset_all(states, rng_states, observations):
    i = cuda.grid(1)
    if i < states.shape[0]:
        {p}reset_env(states[i], rng_states[i])
        {p}observe(states[i], observations[i])
'''


def _discrete_check(low: int, high: int) -> types.FunctionType:
    def valid_action(action):
        return action >= low and action < high

    return valid_action


def _finite_check(size: int) -> types.FunctionType:
    def valid_action(action):
        for k in range(size):  # noqa: SIM110 (a device function: no generators)
            if math.isnan(action[k]) or math.isinf(action[k]):
                return False
        return True

    return valid_action


def _action_check(space: gym.Space) -> types.FunctionType:
    if isinstance(space, gym.spaces.Discrete):
        return _discrete_check(int(space.start), int(space.start + space.n))
    if len(space.shape) != 1:
        raise ValueError(f"NativeCudaVecEnv takes Box actions of one dimension, got shape {space.shape}")
    return _finite_check(space.shape[0])


_KERNELS: dict[type, dict[str, Any]] = {}  # per env class: compiled at the first launch, once per process


def cuda_kernels(cls: type[NativeVecEnv]) -> dict[str, Any]:
    """The CUDA kernels of a native env class ("step", "reset_all"), from its own functions."""
    if cls not in _KERNELS:
        prefix = f"{cls.__name__}_cuda_"
        functions = {name: _env_function(cls, name) for name in _FUNCTIONS}
        functions["valid_action"] = _action_check(cls.single_action_space)
        if simulated():
            functions = {name: python_twin(fn) for name, fn in functions.items()}
        namespace: dict[str, Any] = {"cuda": cuda}
        for name, fn in functions.items():
            namespace[prefix + name] = cuda.jit(device=True)(fn)
        source = _CUDA_TEMPLATE.format(p=prefix, body=_STEP_BODY.format(p=prefix).strip("\n"))
        exec(compile(source, f"<thrust CUDA kernels of {cls.__qualname__}>", "exec"), namespace)
        _KERNELS[cls] = {name: namespace[prefix + name] for name in ("step", "reset_all")}
    return _KERNELS[cls]


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype)).dtype


class NativeCudaVecEnv(VecEnv):
    """The native envs `host_envs` (a fresh `NativeVecEnv`, never stepped) stepped by CUDA kernels.

    Takes the class, the count, the time limit and every env's initial state (the constant parts that a
    constructor sets, such as CartPole's `observe_velocity` flag) from `host_envs`, which is not used after.
    `reset`/`step` return torch tensors on the device (see the module docstring); `step` takes a tensor or
    numpy array of actions of the batch's shape, integers for a Discrete space, floats for a Box one.
    `state_dict` holds numpy copies under the CPU env's keys: either env loads the other's.
    """

    def __init__(self, host_envs: NativeVecEnv) -> None:
        check_cuda()
        if not isinstance(host_envs, NativeVecEnv):
            raise ValueError(
                f"device='cuda' runs native envs (NativeVecEnv subclasses) only, got {type(host_envs).__name__}"
            )
        if host_envs.agents_per_env != 1:
            raise ValueError("native multi-agent envs run on the CPU only: make them with device='cpu'")
        if host_envs.render_mode is not None:
            raise ValueError("native envs on the GPU do not render: make the same env on the CPU to render it")
        cls, num_envs = type(host_envs), host_envs.num_envs
        self.env_class, self.device = cls, tensor_device()
        spec = EnvSpec(id=host_envs.env_spec.id, kwargs=host_envs.env_spec.kwargs, backend="cuda",
                       seed=host_envs.env_spec.seed)

        def take(shape: tuple[int, ...], dtype: np.dtype) -> torch.Tensor:
            return torch.zeros(shape, dtype=_torch_dtype(np.dtype(dtype)), device=self.device)

        super().__init__(cls.single_observation_space, cls.single_action_space, num_envs, env_spec=spec, take=take)
        self.max_episode_steps = host_envs.max_episode_steps
        self._time_limit = host_envs._time_limit
        self._kernels = cuda_kernels(cls)
        self.states = torch.from_numpy(host_envs.states).to(self.device)
        self.rng_states = torch.zeros((num_envs, 1), dtype=torch.int64, device=self.device)  # uint64 bits
        self.running_returns = torch.zeros(num_envs, dtype=torch.float64, device=self.device)
        self.running_lengths = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self._actions = take(host_envs._actions.shape, host_envs._actions.dtype)
        self._errors = torch.zeros(1, dtype=torch.int64, device=self.device)
        self._errors_seen = torch.zeros(1, dtype=torch.int64, pin_memory=not simulated())  # host memory
        self._errors_seen_view = self._errors_seen.numpy()  # read without a tensor call
        self._env_ids = np.arange(num_envs)
        self._seeded = False
        # The kernels' views of the tensors, made once (a view costs more Python time than a launch).
        self._reset_args = (device_array(self.states), device_array(self.rng_states, np.uint64),
                            device_array(self.observations))
        self._step_args = (
            device_array(self.states), device_array(self.rng_states, np.uint64), device_array(self._actions),
            device_array(self.observations), device_array(self.rewards), device_array(self.terminations),
            device_array(self.truncations), device_array(self.final_observations), device_array(self.final_mask),
            device_array(self.episode_returns), device_array(self.episode_lengths),
            device_array(self.running_returns), device_array(self.running_lengths), self._time_limit,
            device_array(self._errors),
        )

    # -- VecEnv ----------------------------------------------------------------------------------

    def _check_actions(self, actions: Any, count: int) -> None:
        """Shape and dtype kind of a tensor or array of actions, read without a synchronization (the values
        are checked by the kernel)."""
        if not isinstance(actions, (torch.Tensor, np.ndarray)):
            raise ValueError(f"actions must be a torch tensor or numpy array, got {type(actions).__name__}")
        expected = (count, *self.single_action_space.shape)
        if tuple(actions.shape) != expected:
            raise ValueError(f"actions must have shape {expected} for {self.single_action_space}, "
                             f"got {tuple(actions.shape)}")
        discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        dtype = actions.dtype if isinstance(actions, torch.Tensor) else torch.from_numpy(actions[:0]).dtype
        kind_ok = (not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool) if discrete \
            else dtype.is_floating_point
        if not kind_ok:
            raise ValueError(f"actions for {self.single_action_space} must be "
                             f"{'integers' if discrete else 'floating point'}, got dtype {dtype}")

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        if options:
            raise ValueError(f"{self.env_class.__name__} takes no reset options, got {options}")
        self._raise_invalid_action(synchronize=True)
        if seed is not None or not self._seeded:
            streams = np.zeros((self.num_envs, 1), dtype=np.uint64)
            seed_streams(streams, seed)
            self.rng_states.copy_(torch.from_numpy(streams.view(np.int64)))
            self._seeded = True
        launch(self._kernels["reset_all"], self.num_envs, *self._reset_args)
        self.running_returns.zero_()
        self.running_lengths.zero_()

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        if env_ids is not None and not np.array_equal(env_ids, self._env_ids):
            raise ValueError(f"{type(self).__name__} steps all envs at once: pass env_ids=None")
        if isinstance(actions, np.ndarray):
            actions = torch.from_numpy(actions)
        self._actions.copy_(actions, non_blocking=True)

    def _recv(self):
        launch(self._kernels["step"], self.num_envs, *self._step_args)
        self._errors_seen.copy_(self._errors, non_blocking=True)
        self._raise_invalid_action(synchronize=False)
        return self.observations, self.rewards, self.terminations, self.truncations, self.infos, self._env_ids

    def _raise_invalid_action(self, synchronize: bool) -> None:
        """`ValueError` if a kernel found an invalid action (reading the last host copy of the flag, or the
        flag itself when `synchronize`)."""
        flag = int(self._errors[0]) if synchronize else int(self._errors_seen_view[0])
        if flag:
            self._errors.zero_()
            self._errors_seen.zero_()
            space = self.single_action_space
            what = (f"lie in [{space.start}, {space.start + space.n - 1}]" if isinstance(space, gym.spaces.Discrete)
                    else "be finite (no NaN or inf)")
            raise ValueError(
                f"actions for {space} must {what}: env {flag - 1} got one that does not, and was not stepped "
                "(the device checks actions without waiting: this step, or one before it)"
            )

    # -- checkpoints -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Numpy copies of every array that determines the future, under `NativeVecEnv.state_dict`'s keys."""
        self._raise_invalid_action(synchronize=True)
        state = {name: getattr(self, name).cpu().numpy().copy() for name in NativeVecEnv._CHECKPOINTED}
        state["rng_states"] = state["rng_states"].view(np.uint64)
        state["needs_reset"] = np.array(self._needs_reset)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a `state_dict()` of this env or of the CPU env of the same class and count."""
        expected = {*NativeVecEnv._CHECKPOINTED, "needs_reset"}
        if set(state) != expected:
            raise ValueError(f"state dict keys must be {sorted(expected)}, got {sorted(state)}")
        if self._pending:
            raise RuntimeError("load_state_dict() called while a send() is pending; call recv() first")
        for name in NativeVecEnv._CHECKPOINTED:
            buffer = getattr(self, name)
            value = np.asarray(state[name])
            if name == "rng_states":
                value = value.astype(np.uint64).view(np.int64)
            if tuple(value.shape) != tuple(buffer.shape):
                raise ValueError(f"state[{name!r}] must have shape {tuple(buffer.shape)}, got {value.shape}")
            buffer.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        self._needs_reset = bool(state["needs_reset"])
        self._seeded = True
