"""Running untrusted python graders: a pool of pre-forking zygotes with namespaces, Landlock and seccomp."""

from app.sandbox.disabled import DisabledSandbox
from app.sandbox.limits import SandboxLimits
from app.sandbox.pool import SandboxPool

__all__ = ["DisabledSandbox", "SandboxLimits", "SandboxPool"]
