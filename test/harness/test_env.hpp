// Where the test peers are. The RGW fixture (rgw.sh, started once per ctest run) listens on
// 127.0.0.1:17480 with a fixed throwaway user and the bucket `lifeboat-test`, and on
// https://127.0.0.1:17443 with a certificate from the CA in rgw_ca_bundle().
#pragma once

#include <filesystem>
#include <string>

namespace lifeboat::test {

struct s3_peer {
    std::string endpoint = "http://127.0.0.1:17480";
    std::string bucket = "lifeboat-test";
    std::string access_key = "AKIATESTTESTTEST0001";
    std::string secret_key = "testsecret0123456789";
    std::string region = "us-east-1";
    std::string tls_endpoint = "https://127.0.0.1:17443";
};
inline s3_peer rgw() {
    return {};
}

// The CA of the RGW fixture's HTTPS endpoint (rgw.sh writes it, or fetches it from a borrowed RGW).
std::filesystem::path rgw_ca_bundle();

std::filesystem::path lifeboat_bin();
std::filesystem::path source_dir();
std::filesystem::path shared_dir();

// A folder for the current test: <build>/test-work/<suite>.<test>, emptied on the first call in a
// test and shared by later calls in the same test.
std::filesystem::path scratch_dir();

// A unique string for keys and names, so reruns against one RGW never collide.
std::string unique_suffix();

// A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range (so no outgoing
// connection takes it before the caller binds it), never the same one twice in a process.
unsigned short free_port();

// n pseudo-random bytes, the same for the same seed (incompressible payloads for transfers).
std::string random_bytes(std::size_t n, unsigned seed = 1);

} // namespace lifeboat::test
