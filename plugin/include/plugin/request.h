// request.h: the engine's view of one Vault request and its answer, independent of gRPC
// (backend_service.cc translates pb.Request/pb.Response to and from these).
//
// SECURITY: `data` and `internal_data` are JSON from the host; the engine parses them
// with size and type checks (request_fields.h). Response data may carry a generated
// password: it lives in `data_json` only until the gRPC reply is serialised.
// ERRORS: none here (plain data).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace smtpplugin {

inline constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

// The lease a renew/revoke request refers to (pb.Secret).
struct LeaseIn {
  std::string internal_data;  // JSON written by us at issue time
  std::int64_t ttl_ns = 0;
  std::int64_t max_ttl_ns = 0;
  std::int64_t increment_ns = 0;  // renew: the increment asked for (0 = none)
  std::int64_t issue_time_s = 0;  // the lease's original issue time (Unix seconds)
  bool has_issue_time = false;
};

struct Request {
  std::string operation;  // create read update delete list help renew revoke rollback ...
  std::string path;       // relative to the mount: "config", "roles/x", "creds/x"
  std::string data_json;  // "null" or a JSON object
  std::optional<LeaseIn> secret;
  std::string display_name;
  std::string mount_point;
};

// The lease to create or extend (pb.Secret + pb.LeaseOptions).
struct LeaseOut {
  std::int64_t ttl_ns = 0;
  std::int64_t max_ttl_ns = 0;
  bool renewable = true;
  std::int64_t issue_time_s = 0;  // always set on the wire
  std::string internal_data;      // JSON, never empty
};

struct Response {
  // Not handled here: the wire layer answers ProtoError 6 (404) or 5 (405).
  enum class Refusal { None, UnsupportedPath, UnsupportedOperation };
  Refusal refusal = Refusal::None;
  bool none = false;  // no response at all (Go nil): a read of something that is not there
  std::string data_json = "null";  // always valid JSON
  std::optional<LeaseOut> secret;
  std::vector<std::string> warnings;
};

}  // namespace smtpplugin
