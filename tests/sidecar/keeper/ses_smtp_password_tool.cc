// ses_smtp_password_tool.cc: test helper: reads "<region> <secret access key>" lines
// on stdin and prints one derived SES SMTP password per line ("error: ..." for a
// refused one), for check_ses_smtp_password.py.
//
// SECURITY: test-only; the keys are random test values, never real credentials.
// ERRORS: exit 1 on unreadable input.
#include <iostream>
#include <string>

#include "sidecar/keeper/ses_smtp_password.h"

int main() {
  foundation::initSecretMemoryOrDie();
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos) return 1;
    const auto secret = foundation::SecretBytes::copyOf(std::string_view(line).substr(space + 1));
    auto password =
        sidecar::keeper::deriveSesSmtpPassword(secret, std::string_view(line).substr(0, space));
    if (!password) {
      std::cout << "error: " << password.error().message << "\n";
      continue;
    }
    password->reveal([](std::string_view p) { std::cout << p << "\n"; });
  }
  return 0;
}
