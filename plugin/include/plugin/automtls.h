// automtls.h: go-plugin AutoMTLS material: the plugin's own self-signed certificate and
// the host certificate from PLUGIN_CLIENT_CERT, which becomes the only trust root.
//
// SECURITY: the private key is generated here and never leaves the process; gRPC's API
// takes it as PEM in a std::string, which the caller wipes once the credentials are
// built. PLUGIN_CLIENT_CERT is parsed and checked (a certificate, PEM) before use.
// ERRORS: every OpenSSL call is checked; failures are Internal (our own generation) or
// Permanent (an unusable host certificate).
#pragma once

#include <string>
#include <vector>

#include "foundation/result.h"
#include "plugin/host.h"  // wipeString

namespace smtpplugin {

struct TlsIdentity {
  std::string cert_pem;
  std::string key_pem;  // wipe after use (wipeString)
  std::vector<unsigned char> cert_der;
};

// ECDSA key on `curve` ("P-256" for the plugin; tests also make go-plugin's "P-521" host
// certificate); self-signed X.509 v3: CN=localhost, SAN DNS:localhost, EKU serverAuth +
// clientAuth, CA:TRUE, KU digitalSignature|keyEncipherment|keyAgreement|keyCertSign,
// random positive 128-bit serial, valid from now-30s for ~30 years.
foundation::Result<TlsIdentity> generateTlsIdentity(const char* curve = "P-256");

// Parses PLUGIN_CLIENT_CERT (PEM, one certificate) and returns it normalised as PEM.
foundation::Result<std::string> parseHostCertificate(const char* pem);

}  // namespace smtpplugin
