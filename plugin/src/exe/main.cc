// main.cc: vault-plugin-secrets-smtp, started by Vault/OpenBao (never by hand).
//
// SECURITY: see server.h: the whole process contract lives in runPlugin().
// ERRORS: exit status 1 on any start-up failure (the cookie check included), 0 after a
// clean shutdown.
#include "plugin/server.h"

int main() {
  return smtpplugin::runPlugin();
}
