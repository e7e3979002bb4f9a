"""Running untrusted python graders: a pool of pre-forking zygotes with namespaces, Landlock and seccomp."""

from graders_emulator.sandbox.disabled import DisabledSandbox
from graders_emulator.sandbox.limits import SandboxLimits
from graders_emulator.sandbox.pool import SandboxPool

__all__ = ["DisabledSandbox", "SandboxLimits", "SandboxPool"]
