// A self-signed TLS certificate for localhost and 127.0.0.1, made by the openssl CLI for tests
// of TLS servers and clients.
#ifndef SLIPWAY_TESTS_TESTING_CERTS_H_
#define SLIPWAY_TESTS_TESTING_CERTS_H_

#include <cstdlib>
#include <string>

#include "tests/testing/temp_dir.h"

namespace slipway::testing {

// Writes dir/cert.pem and dir/key.pem (valid for a day). False if openssl failed.
inline bool MakeSelfSignedCert(const TempDir& dir) {
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                    "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
                    dir.File("key.pem") + " -out " + dir.File("cert.pem") + " 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_CERTS_H_
