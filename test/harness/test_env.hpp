// Where the test peers are. The RGW fixture (rgw.sh, started once per ctest run) listens on
// 127.0.0.1:17480 with a fixed throwaway user and the bucket `lifeboat-test`, and on
// https://127.0.0.1:17443 with a certificate from the CA in rgw_ca_bundle().
#pragma once

#include <filesystem>
#include <string>
#include <vector>

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
// The fixture's second user, lifeboat-readonly: a bucket policy lets it read and list the test
// bucket and nothing else (rgw.sh), as an import-only node's credentials should. Its writes get
// 403 AccessDenied.
inline s3_peer rgw_read_only() {
    s3_peer p;
    p.access_key = "AKIATESTREADONLY0001";
    p.secret_key = "readonlysecret0123456789";
    return p;
}

// The s3rver fixture (s3rver.sh): a lenient S3 that ignores conditional writes, on
// 127.0.0.1:17490 with the bucket `lifeboat-test`. It checks the access key (S3RVER) and the
// request's date, not the signature.
inline s3_peer s3rver() {
    s3_peer p;
    p.endpoint = "http://127.0.0.1:17490";
    p.access_key = "S3RVER";
    p.secret_key = "S3RVER";
    p.tls_endpoint.clear();
    return p;
}

// The CA of the RGW fixture's HTTPS endpoint (rgw.sh writes it, or fetches it from a borrowed RGW).
std::filesystem::path rgw_ca_bundle();

std::filesystem::path lifeboat_bin();
std::filesystem::path source_dir();
std::filesystem::path shared_dir();

// A folder for the current test: <build>/test-work/<suite>.<test>, emptied on the first call in a
// test and shared by later calls in the same test.
std::filesystem::path scratch_dir();

// The names of the temporary files (atomic writes' "*.tmp-*") left in `dir`: none once a write
// is over, whatever became of it.
std::vector<std::string> temporary_files(const std::filesystem::path& dir);

// A unique string for keys and names, so reruns against one RGW never collide.
std::string unique_suffix();

// A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range (so no outgoing
// connection takes it before the caller binds it), never the same one twice in a process.
unsigned short free_port();

// n pseudo-random bytes, the same for the same seed (incompressible payloads for transfers).
std::string random_bytes(std::size_t n, unsigned seed = 1);

} // namespace lifeboat::test
