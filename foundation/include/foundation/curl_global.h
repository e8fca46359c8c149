// curl_global.h: libcurl's process-wide initialisation, with a zeroing allocator.
//
// SECURITY: libcurl copies what it is given (the X-Vault-Token header line, request
// bodies, SMTP user names and passwords) into its own heap blocks. initCurlOrDie()
// installs allocation functions (curl_global_init_mem) that remember each block's size
// and zero the block when libcurl frees or reallocates it, so those copies do not
// outlive their use.
// ERRORS: a failed curl_global_init_mem aborts: without it secrets would linger.
#pragma once

namespace foundation {

// Idempotent and thread-safe; call before any other libcurl use and before threads
// that use libcurl start.
void initCurlOrDie();

}  // namespace foundation
