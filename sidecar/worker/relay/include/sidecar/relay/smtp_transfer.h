// smtp_transfer.h (private to the sidecar library): one SMTP submission as a libcurl
// easy handle, shared by the blocking sender and the event-loop sender.
//
// SECURITY: TLS is required (CURLUSESSL_ALL for STARTTLS, smtps:// for implicit TLS)
// and verified (VERIFYPEER 1, VERIFYHOST 2, CAINFO), unless settings.tls is None,
// which config validation only allows with allow_insecure. Every curl_easy_setopt is
// checked: a silently ignored TLS option is a plaintext password on the wire. The
// credential is handed to libcurl, which copies it into memory our allocator zeroes
// on free (vault/curl_global.h); the caller may wipe its own copy right after
// prepare(). The debug callback reads only server replies and our own RCPT commands;
// AUTH is never looked at.
// ERRORS: prepare() names a refused option; finish() turns libcurl's result and the
// server's replies into a SendResult.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>
#include <string_view>

#include "sidecar/relay/smtp_sender.h"

namespace sidecar::relay {

struct CurlEasyDeleter {
  void operator()(CURL* curl) const noexcept { curl_easy_cleanup(curl); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

// The URL libcurl needs for `settings` (its path is the EHLO name).
std::string smtpUrl(const SmtpSettings& settings);

class SmtpTransfer {
 public:
  SmtpTransfer() = default;
  SmtpTransfer(const SmtpTransfer&) = delete;
  SmtpTransfer& operator=(const SmtpTransfer&) = delete;
  // The easy handle goes first: its cleanup may still call back into the members.
  ~SmtpTransfer() { easy_.reset(); }

  // Creates the easy handle and sets every option. `message` must stay alive (and at
  // the same address) until the transfer ends. Returns nullptr or the refused option.
  const char* prepare(const SmtpSettings& settings, const std::string& url,
                      const mailformat::Envelope& envelope, std::string_view message,
                      const SmtpCredential& credential);
  CURL* easy() const noexcept { return easy_.get(); }
  SendResult finish(CURLcode rc);
  // Ready to send the same message again, on a new connection (options stay set).
  bool rewindOnFreshConnection();

 private:
  static std::size_t readCallback(char* buffer, std::size_t size, std::size_t nitems, void* self);
  static int debugCallback(CURL*, curl_infotype type, char* data, std::size_t size, void* self);

  mailformat::ReplyCollector replies_;
  std::string_view message_;
  std::size_t offset_ = 0;
  std::string mail_from_;
  char error_buffer_[CURL_ERROR_SIZE] = {0};
  std::unique_ptr<curl_slist, CurlSlistDeleter> recipients_;
  std::unique_ptr<CURL, CurlEasyDeleter> easy_;
};

}  // namespace sidecar::relay
