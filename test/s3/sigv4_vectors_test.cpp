// The SigV4 signer against the official test suite (aws-c-auth's copy), the five worked
// examples of the S3 API reference, and its chunked upload example (aws-chunked signing).
//
// Which suite cases apply to S3: all of them except the six `*-normalized` cases whose path has
// dot segments or repeated slashes (get-relative-normalized, get-relative-relative-normalized,
// get-slash-dot-slash-normalized, get-slash-normalized, get-slash-pointless-dot-normalized,
// get-slashes-normalized). Those expect generic AWS path normalisation ("/example/.." signs as
// "/"); S3 never normalises, because "a//b/../c" is a legal key, distinct from "a/c". For them we
// check the S3 rule instead: the path is signed exactly as the `*-unnormalized` twin expects.
// Every other case (header folding, duplicate headers, query ordering and encoding, UTF-8,
// session tokens signed or added after signing, signed bodies) is checked in both header and
// presigned-query forms.
#include "backends/s3/sigv4.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "harness/test_env.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

using namespace lifeboat;
namespace fs = std::filesystem;

namespace {

fs::path suite_dir() {
    return test::shared_dir() / "sigv4" / "aws-c-auth-v4";
}

std::string slurp(const fs::path& p) {
    auto r = read_whole_file(p);
    EXPECT_TRUE(r.ok()) << p;
    return r.ok() ? *r : std::string();
}

std::string strip_trailing_newlines(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

std::string decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

struct parsed_request {
    std::string method;
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// request.txt: "METHOD target HTTP/1.1", "Name:value" lines (a line starting with whitespace
// continues the previous value), a blank line, the body.
parsed_request parse_request(const std::string& text) {
    parsed_request r;
    std::size_t pos = text.find('\n');
    std::string line = text.substr(0, pos);
    r.method = line.substr(0, line.find(' '));
    std::string target = line.substr(r.method.size() + 1, line.rfind(" HTTP/") - r.method.size() - 1);
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) {
        std::string_view rest = std::string_view(target).substr(q + 1);
        while (!rest.empty()) {
            const auto amp = rest.find('&');
            const auto item = rest.substr(0, amp);
            const auto eq = item.find('=');
            r.query.emplace_back(decode(item.substr(0, eq)),
                                 eq == std::string_view::npos ? "" : decode(item.substr(eq + 1)));
            rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        }
    }
    while (pos != std::string::npos && pos + 1 < text.size()) {
        const auto next = text.find('\n', pos + 1);
        line = text.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
        pos = next;
        if (line.empty()) {
            if (pos != std::string::npos)
                r.body = text.substr(pos + 1);
            break;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            r.headers.back().second += " " + line;
            continue;
        }
        const auto colon = line.find(':');
        r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
    return r;
}

const std::set<std::string> generic_normalisation_only = {
    "get-relative-normalized", "get-relative-relative-normalized",   "get-slash-dot-slash-normalized",
    "get-slash-normalized",    "get-slash-pointless-dot-normalized", "get-slashes-normalized",
};

std::vector<std::string> all_cases() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(suite_dir()))
        if (e.is_directory())
            names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

TEST(sigv4_suite, suite_is_present) {
    ASSERT_TRUE(fs::exists(suite_dir())) << suite_dir();
    EXPECT_EQ(all_cases().size(), 38u);
}

class sigv4_case : public ::testing::TestWithParam<std::string> {};

TEST_P(sigv4_case, header_and_query_signing) {
    const auto dir = suite_dir() / GetParam();
    const auto context = boost::json::parse(slurp(dir / "context.json")).as_object();
    const auto& c = context.at("credentials").as_object();
    s3::credentials creds;
    creds.access_key_id = std::string(c.at("access_key_id").as_string());
    creds.secret_access_key = std::string(c.at("secret_access_key").as_string());
    if (c.contains("token"))
        creds.session_token = std::string(c.at("token").as_string());
    const bool omit_token =
        context.contains("omit_session_token") && context.at("omit_session_token").as_bool();
    const bool sign_body = context.at("sign_body").as_bool();
    s3::scope sc;
    sc.region = std::string(context.at("region").as_string());
    sc.service = std::string(context.at("service").as_string());
    sc.time = *parse_iso8601(std::string(context.at("timestamp").as_string()));
    const auto expires = std::chrono::seconds(context.at("expiration_in_seconds").to_number<long>());

    const auto req = parse_request(slurp(dir / "request.txt"));
    s3::canonical_input in;
    in.method = req.method;
    in.canonical_uri = s3::encode_path(req.path);
    in.query = req.query;
    in.headers = req.headers;
    in.payload_hash = sha256_hex(req.body);

    if (generic_normalisation_only.contains(GetParam())) {
        // S3 keeps the path as it is: the canonical URI is the raw path, encoded once.
        auto twin = GetParam();
        twin.replace(twin.rfind("-normalized"), std::string::npos, "-unnormalized");
        const auto twin_canonical = slurp(suite_dir() / twin / "header-canonical-request.txt");
        EXPECT_EQ(in.canonical_uri,
                  twin_canonical.substr(twin_canonical.find('\n') + 1,
                                        twin_canonical.find('\n', twin_canonical.find('\n') + 1) -
                                            twin_canonical.find('\n') - 1));
        return;
    }

    // Header signing: x-amz-date (and the token unless added after signing, and the body hash
    // when the body is signed) are part of the signed headers.
    auto header_in = in;
    header_in.headers.emplace_back("X-Amz-Date", format_amz_date(sc.time));
    if (!creds.session_token.empty() && !omit_token)
        header_in.headers.emplace_back("X-Amz-Security-Token", creds.session_token);
    if (sign_body)
        header_in.headers.emplace_back("x-amz-content-sha256", in.payload_hash);
    const auto h = s3::sign(header_in, creds, sc);
    EXPECT_EQ(h.canonical_request, strip_trailing_newlines(slurp(dir / "header-canonical-request.txt")));
    EXPECT_EQ(h.string_to_sign, strip_trailing_newlines(slurp(dir / "header-string-to-sign.txt")));
    EXPECT_EQ(h.signature, strip_trailing_newlines(slurp(dir / "header-signature.txt")));
    const auto signed_request = slurp(dir / "header-signed-request.txt");
    EXPECT_NE(signed_request.find("Authorization:" + h.authorization + "\n"), std::string::npos)
        << h.authorization << "\n"
        << signed_request;

    // Query signing (presigned URL).
    const auto q = s3::presign(in, creds, sc, expires, omit_token);
    EXPECT_EQ(q.canonical_request, strip_trailing_newlines(slurp(dir / "query-canonical-request.txt")));
    EXPECT_EQ(q.string_to_sign, strip_trailing_newlines(slurp(dir / "query-string-to-sign.txt")));
    EXPECT_EQ(q.signature, strip_trailing_newlines(slurp(dir / "query-signature.txt")));
    EXPECT_NE(q.query.find("X-Amz-Signature=" + q.signature), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(aws_c_auth, sigv4_case, ::testing::ValuesIn(all_cases()), [](const auto& info) {
    std::string n = info.param;
    for (auto& ch : n)
        if (ch == '-')
            ch = '_';
    return n;
});

TEST(sigv4_s3_docs, five_worked_examples) {
    const auto doc =
        boost::json::parse(slurp(test::shared_dir() / "sigv4" / "s3-doc-examples.json")).as_object();
    s3::credentials creds;
    creds.access_key_id = std::string(doc.at("access_key_id").as_string());
    creds.secret_access_key = std::string(doc.at("secret_access_key").as_string());
    s3::scope sc;
    sc.region = "us-east-1";
    sc.service = "s3";
    const std::string amz_date(doc.at("x_amz_date").as_string());
    sc.time = *parse_iso8601(amz_date.substr(0, 4) + "-" + amz_date.substr(4, 2) + "-" +
                             amz_date.substr(6, 2) + "T" + amz_date.substr(9, 2) + ":" +
                             amz_date.substr(11, 2) + ":" + amz_date.substr(13, 2) + "Z");
    EXPECT_EQ(to_hex(s3::signing_key(creds.secret_access_key, "20130524", "us-east-1", "s3")),
              std::string(doc.at("signing_key_hex").as_string()));

    const auto& cases = doc.at("cases").as_array();
    ASSERT_EQ(cases.size(), 5u);
    for (const auto& v : cases) {
        const auto& c = v.as_object();
        SCOPED_TRACE(std::string(c.at("name").as_string()));
        const std::string raw(c.at("raw_path").as_string());
        const auto req = parse_request(std::string(c.at("method").as_string()) + " " + raw + " HTTP/1.1\n\n");
        s3::canonical_input in;
        in.method = req.method;
        in.canonical_uri = s3::encode_path(req.path);
        in.query = req.query;
        for (const auto& [k, val] : c.at("signed_headers").as_object())
            in.headers.emplace_back(std::string(k), std::string(val.as_string()));
        in.payload_hash = std::string(c.at("payload_sha256").as_string());
        if (c.contains("body"))
            EXPECT_EQ(sha256_hex(std::string(c.at("body").as_string())), in.payload_hash);
        EXPECT_EQ(in.canonical_uri, std::string(c.at("canonical_uri").as_string()));

        const bool presigned = std::string(c.at("name").as_string()).starts_with("presigned");
        const auto out =
            presigned ? s3::presign(in, creds, sc, std::chrono::seconds(86400)) : s3::sign(in, creds, sc);
        EXPECT_EQ(out.canonical_request, std::string(c.at("canonical_request").as_string()));
        EXPECT_EQ(out.string_to_sign, std::string(c.at("string_to_sign").as_string()));
        EXPECT_EQ(out.signature, std::string(c.at("signature").as_string()));
    }
}

TEST(sigv4_s3_rules, paths_are_encoded_once_and_never_normalised) {
    EXPECT_EQ(s3::encode_path("/bkt/a b+c%d~e=f"), "/bkt/a%20b%2Bc%25d~e%3Df");
    EXPECT_EQ(s3::encode_path("/bkt/a//b/../c/./d"), "/bkt/a//b/../c/./d");
    EXPECT_EQ(s3::encode_path("/bkt/\xc3\xa9t\xc3\xa9"), "/bkt/%C3%A9t%C3%A9");
    EXPECT_EQ(s3::encode_path("/bkt/a%2Fb"), "/bkt/a%252Fb"); // a literal '%' is data, not an escape
    EXPECT_EQ(s3::canonical_query({{"prefix", "logs/"}, {"list-type", "2"}, {"uploads", ""}}),
              "list-type=2&prefix=logs%2F&uploads=");
}

// The chunked upload example of the S3 API reference ("Signature Calculations for the
// Authorization Header: Transferring Payload in Multiple Chunks", Example: PUT Object,
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html): 66560 bytes of 'a' in
// 64 KiB chunks, with the documented seed signature, the three chunk signatures and the
// Content-Length they make.
TEST(sigv4_s3_docs, chunked_upload_example) {
    const auto doc =
        boost::json::parse(slurp(test::shared_dir() / "sigv4" / "s3-doc-examples.json")).as_object();
    s3::credentials creds;
    creds.access_key_id = std::string(doc.at("access_key_id").as_string());
    creds.secret_access_key = std::string(doc.at("secret_access_key").as_string());
    const s3::scope sc{"us-east-1", "s3", *parse_iso8601("2013-05-24T00:00:00Z")};

    s3::canonical_input in;
    in.method = "PUT";
    in.canonical_uri = s3::encode_path("/examplebucket/chunkObject.txt");
    in.headers = {{"Host", "s3.amazonaws.com"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                  {"x-amz-content-sha256", std::string(s3::streaming_payload)},
                  {"Content-Encoding", "aws-chunked"},
                  {"x-amz-decoded-content-length", "66560"},
                  {"Content-Length", "66824"}};
    in.payload_hash = s3::streaming_payload;
    const auto seed = s3::sign(in, creds, sc);
    EXPECT_EQ(seed.signed_headers, "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                                   "x-amz-decoded-content-length;x-amz-storage-class");
    ASSERT_EQ(seed.signature, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");

    s3::chunk_signer chunks(creds, sc, seed.signature);
    EXPECT_EQ(chunks.chunk_header(std::string(65536, 'a')),
              "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    EXPECT_EQ(chunks.chunk_header(std::string(1024, 'a')),
              "400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
    EXPECT_EQ(chunks.chunk_header({}),
              "0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n");
    EXPECT_EQ(s3::aws_chunked_length(66560, 65536), 66824u);

    // The chain: the same chunk signed after another chunk, or from another seed, differs.
    s3::chunk_signer again(creds, sc, seed.signature);
    EXPECT_NE(again.sign(std::string(1024, 'a')),
              "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
    s3::chunk_signer other_seed(creds, sc, std::string(64, '0'));
    EXPECT_NE(other_seed.sign(std::string(65536, 'a')),
              "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
}

TEST(sigv4_s3_rules, aws_chunked_length_counts_every_frame) {
    // hex size + ";chunk-signature=" + 64 + CRLF + data + CRLF, and the final "0;..." frame (86).
    EXPECT_EQ(s3::aws_chunked_length(0, 65536), 86u);
    EXPECT_EQ(s3::aws_chunked_length(1, 65536), 86u + (1 + 17 + 64 + 2 + 1 + 2));
    EXPECT_EQ(s3::aws_chunked_length(2 * 65536, 65536), 86u + 2 * (5 + 17 + 64 + 2 + 65536 + 2));
    EXPECT_EQ(s3::aws_chunked_length(262144 + 15, 262144), 86u + (5 + 83 + 262144 + 2) + (1 + 83 + 15 + 2));
}
