// main.cc: vault-plugin-secrets-smtp, started by Vault/OpenBao (never by hand).
//
// SECURITY: see server.h: the whole process contract lives in runPlugin().
// ERRORS: exit status 1 on any start-up failure (the cookie check included), 0 after a
// clean shutdown.
#include <cstdio>

#include "plugin/server.h"

int main() {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  // A fuzz build keeps secret bytes on the ordinary heap (foundation/src/secret.cc),
  // so its daemons must never run with real secrets.
  std::fputs("vault-plugin-secrets-smtp: a fuzz build (secrets not locked): refusing to run\n",
             stderr);
  return 78;  // EX_CONFIG
#endif
  return smtpplugin::runPlugin();
}
