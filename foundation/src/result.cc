// result.cc: names of error kinds, for logs.
//
// SECURITY: none (constant strings).
// ERRORS: none.
#include "foundation/result.h"

namespace foundation {

const char* toString(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::Temporary:
      return "temporary";
    case ErrorKind::Permanent:
      return "permanent";
    case ErrorKind::Internal:
      return "internal";
  }
  return "unknown";
}

}  // namespace foundation
