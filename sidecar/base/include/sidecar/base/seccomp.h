// seccomp.h: one system-call filter per role, installed once the role has hardened
// itself (hardening.h), with libseccomp.
//
// SECURITY: each role may make only the system calls it was seen to need (the lists in
// seccomp.cc, taken from strace of the end-to-end suites); anything else fails with
// EPERM, and the calls that would let a compromised role run other code or reach into
// other processes (execve, execveat, ptrace, process_vm_readv/writev, and for the roles
// fork-like clones that start new processes) kill the process outright. The supervisor's
// filter keeps fork and execveat (it starts the roles) but not ptrace. A role with no
// filter is a bug: the role exits when installing it fails.
// ERRORS: Permanent errors naming the libseccomp step that failed.
#pragma once

#include "foundation/result.h"

namespace sidecar {

enum class SeccompRole { Supervisor, Keeper, Worker };

const char* toString(SeccompRole role) noexcept;

// Installs the filter for `role` on the calling thread and every thread it creates
// later (call it before starting threads; SECCOMP_FILTER_FLAG_TSYNC covers any that
// already run). Needs PR_SET_NO_NEW_PRIVS (hardenProcess sets it).
foundation::Status installSeccompFilter(SeccompRole role);

}  // namespace sidecar
