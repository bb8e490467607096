// The only door to OpenSSL's libcrypto (Debian: libssl-dev): SHA-256 for the remote
// cache's digests (REAPI and Bazel's HTTP cache speak SHA-256 only) and Ed25519 for
// signed remote entries. Nothing of TLS: the remote helper's libcurl does that.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/err.h>
