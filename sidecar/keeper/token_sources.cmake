# The keeper's credential sources beyond Vault-issued passwords (issue 18): OAuth2
# access tokens from a token endpoint (client secret or private-key JWT), and Amazon
# SES SMTP passwords derived from IAM keys. Pure modules plus one libcurl client; only
# the keeper's code calls them.
add_library(keeper_token_sources STATIC
  ${CMAKE_CURRENT_LIST_DIR}/src/jwt_assertion.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/oauth_token_holder.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/oauth_token_response.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/oauth_token_source.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/ses_smtp_password.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/smtp_login_from_secret.cc
)
target_include_directories(keeper_token_sources PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
target_link_libraries(keeper_token_sources
  PUBLIC vault::client
  PRIVATE OpenSSL::Crypto CURL::libcurl RapidJSON::RapidJSON PkgConfig::SODIUM)
project_warnings(keeper_token_sources)

# doctor's plain words for them (the doctor room: sidecar/doctor/).
add_library(doctor_token_findings STATIC ${CMAKE_CURRENT_LIST_DIR}/../doctor/src/token_findings.cc)
target_include_directories(doctor_token_findings PUBLIC ${CMAKE_CURRENT_LIST_DIR}/../doctor/include)
target_link_libraries(doctor_token_findings
  PUBLIC keeper_token_sources sidecar_core PRIVATE PkgConfig::SODIUM)
project_warnings(doctor_token_findings)
