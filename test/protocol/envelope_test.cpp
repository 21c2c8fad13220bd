// Reconfigure frames and stored configs -> snapshots: what is accepted, what is rejected and
// with which one-line reason, and that the config_table comes out byte-exact wherever it sits.
#include "base/gzip.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"

#include <boost/json/parse.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::protocol;

namespace {

const std::string config_text =
    R"({"_format_version":"3.0","_transform":false,"services":[{"id":"s1","host":"a.example","port":80}],)"
    R"("routes":[{"id":"r1","service":"s1","paths":["/a"]}],"consumers":{}})";
const std::string hash_a(32, 'a');

std::string zlib_compress(std::string_view s) {
    deflater d(6, false);
    std::string out;
    d.feed(s, out);
    d.finish(out);
    return out;
}

std::string decode_error(std::string_view envelope, std::size_t max = 1 << 20) {
    auto r = decode_reconfigure_frame(gzip_compress(envelope), {max});
    return r ? std::string("accepted") : r.error();
}

} // namespace

TEST(envelope, decodes_a_kong_frame_and_keeps_the_config_bytes) {
    config_hashes h{hash_a,
                    std::string(32, '1'),
                    std::string(32, '2'),
                    std::string(32, '3'),
                    std::string(32, '4'),
                    std::string(32, '5')};
    const auto frame = gzip_compress(make_reconfigure_envelope(config_text, h, 1700000000.5));
    auto r = decode_reconfigure_frame(frame);
    ASSERT_TRUE(r) << r.error();
    const auto& s = **r;
    EXPECT_EQ(s.config_json, config_text);
    EXPECT_EQ(s.hash, hash_a);
    EXPECT_EQ(s.hashes.routes, std::string(32, '1'));
    EXPECT_EQ(s.hashes.targets, std::string(32, '5'));
    EXPECT_DOUBLE_EQ(s.cp_timestamp, 1700000000.5);
    EXPECT_EQ(s.source, config_source::control_plane);
}

TEST(envelope, accepts_zlib_framing) {
    const auto env =
        R"({"type":"reconfigure","config_hash":")" + hash_a + R"(","config_table":)" + config_text + "}";
    auto r = decode_reconfigure_frame(zlib_compress(env));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ((*r)->config_json, config_text);
}

// cjson orders keys by its hash table, so the config_table may come first, in the middle or
// last, with any whitespace; an escaped key name forces the fallback scan.
TEST(envelope, finds_the_config_table_anywhere) {
    const std::vector<std::string> envelopes = {
        R"({"config_table":)" + config_text + R"(,"type":"reconfigure","config_hash":")" + hash_a + R"("})",
        R"({"type":"reconfigure", "config_table" :  )" + config_text + "\n ,\n\t\"config_hash\":\"" + hash_a +
            "\"}",
        R"({"type":"reconfigure","config_hash":")" + hash_a + R"(","config_table":)" + config_text +
            " \n } \n",
        R"({"type":"reconfigure","config_hash":")" + hash_a + R"(","config\u005ftable":)" + config_text + "}",
        R"({"config\u005ftable":)" + config_text + R"(,"\u0074ype":"reconfigure","config_hash":")" + hash_a +
            R"("})",
        R"({"type":"reconfigure","config_hash":")" + hash_a +
            R"(","x":{"config_table":[1]},"config_table":)" + config_text + R"(,"y":"}"})",
    };
    for (const auto& env : envelopes) {
        auto r = decode_reconfigure_frame(gzip_compress(env));
        ASSERT_TRUE(r) << r.error() << "\n" << env;
        EXPECT_EQ((*r)->config_json, config_text) << env;
    }
}

// The parser sees the inflated text in 64 KiB chunks; keys split across a chunk boundary must
// still be located exactly. Padding moves both keys around the first boundary byte by byte.
TEST(envelope, locates_keys_split_across_inflate_chunks) {
    for (std::size_t pad = 65536 - 90; pad < 65536 + 10; ++pad) {
        const auto env = R"({"type":"reconfigure","p":")" + std::string(pad, 'p') + R"(","config_table":)" +
                         R"({"_format_version":"3.0"})" + R"(,"config_hash":")" + hash_a + R"("})";
        auto r = decode_reconfigure_frame(gzip_compress(env));
        ASSERT_TRUE(r) << r.error() << " pad=" << pad;
        ASSERT_EQ((*r)->config_json, R"({"_format_version":"3.0"})") << "pad=" << pad;
    }
}

TEST(envelope, computes_kongs_hash_when_the_cp_sends_none) {
    const auto env = R"({"type":"reconfigure","config_table":)" + config_text + "}";
    auto r = decode_reconfigure_frame(gzip_compress(env));
    ASSERT_TRUE(r) << r.error();
    const auto expected = kong_config_hashes(boost::json::parse(config_text).get_object());
    EXPECT_EQ((*r)->hash, expected.config);
    EXPECT_EQ((*r)->hashes.services, expected.services);
    EXPECT_EQ((*r)->hashes.routes, expected.routes);
    EXPECT_EQ((*r)->hashes.targets, std::string(empty_config_hash));
}

TEST(envelope, fills_missing_hashes_with_zeros) {
    const auto env = R"({"type":"reconfigure","config_hash":")" + hash_a + R"(","hashes":{"routes":")" +
                     std::string(32, 'b') + R"("},"config_table":)" + config_text + "}";
    auto r = decode_reconfigure_frame(gzip_compress(env));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ((*r)->hashes.routes, std::string(32, 'b'));
    EXPECT_EQ((*r)->hashes.services, std::string(empty_config_hash));
    EXPECT_EQ((*r)->hashes.config, std::string(empty_config_hash));
}

TEST(envelope, rejects_bad_compression_with_a_reason) {
    EXPECT_EQ(decode_reconfigure_frame("").error(), "empty frame");
    EXPECT_EQ(decode_reconfigure_frame("{\"type\":\"reconfigure\"}").error(),
              "the frame is not valid gzip or zlib data");
    auto gz = gzip_compress(R"({"type":"reconfigure","config_table":)" + config_text + "}");
    auto corrupt = gz;
    corrupt[corrupt.size() / 2] ^= 0x55;
    corrupt[corrupt.size() / 2 + 1] ^= 0x55;
    EXPECT_FALSE(decode_reconfigure_frame(corrupt));
    EXPECT_EQ(decode_reconfigure_frame(gz.substr(0, gz.size() / 2)).error(),
              "truncated frame: the compressed stream ends early");
    // A bomb: 64 MiB of zeros compress to ~64 KiB; the cap stops inflation at 1 MiB.
    const auto bomb =
        gzip_compress(R"({"type":"reconfigure","config_table":{"_format_version":"3.0","_comment":")" +
                          std::string(64 << 20, '0') + "\"}}",
                      9);
    EXPECT_LT(bomb.size(), 100u << 10);
    EXPECT_EQ(decode_reconfigure_frame(bomb, {1 << 20}).error(),
              "the config inflates to more than 1048576 bytes (cluster_max_config_size)");
    EXPECT_EQ(decode_error(std::string(2 << 20, ' ')),
              "the config inflates to more than 1048576 bytes (cluster_max_config_size)");
}

TEST(envelope, rejects_bad_envelopes_with_a_reason) {
    const auto ct = R"("config_table":)" + config_text;
    const auto incomplete = R"({"type":"reconfigure",)" + ct;
    EXPECT_EQ(decode_error(incomplete),
              fmt::format("invalid JSON at byte {}: incomplete JSON", incomplete.size()));
    EXPECT_EQ(decode_error("{\"type\":\"reconfigure\",,}"), "invalid JSON at byte 22: syntax error");
    EXPECT_EQ(decode_error("[1,2]"), "the frame is an array, not a JSON object");
    EXPECT_EQ(decode_error(R"({"type":"basic_info",)" + ct + "}"),
              R"(type is "basic_info", expected "reconfigure")");
    EXPECT_EQ(decode_error(R"({"type":7,)" + ct + "}"), R"("type" is a number, not a string)");
    EXPECT_EQ(decode_error("{" + ct + "}"), R"(no "type" member)");
    EXPECT_EQ(decode_error(R"({"type":"reconfigure"})"), "no config_table member");
    EXPECT_EQ(decode_error(R"({"type":"reconfigure","config_table":[]})"),
              "config_table is an array, not an object");
    EXPECT_EQ(decode_error(R"({"type":"reconfigure",)" + ct + "," + ct + "}"),
              R"(duplicate "config_table" member)");
    EXPECT_EQ(decode_error(R"({"type":"reconfigure","config_hash":"ABCDEF",)" + ct + "}"),
              R"(config_hash "ABCDEF" is not 32 lower-case hex characters)");
    EXPECT_EQ(
        decode_error(R"({"type":"reconfigure","config_hash":")" + std::string(32, 'A') + "\"," + ct + "}"),
        R"(config_hash "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" is not 32 lower-case hex characters)");
    EXPECT_EQ(decode_error(R"({"type":"reconfigure","hashes":[],)" + ct + "}"),
              "hashes is an array, not an object");
    EXPECT_EQ(decode_error(R"({"type":"reconfigure","hashes":{"routes":"x"},)" + ct + "}"),
              R"(hashes.routes "x" is not 32 lower-case hex characters)");
    const auto trailing = R"({"type":"reconfigure",)" + ct + "} x";
    EXPECT_EQ(
        decode_error(trailing),
        fmt::format("invalid JSON at byte {}: unexpected data after the JSON document", trailing.size() - 1));
}

TEST(envelope, rejects_configs_that_are_not_declarative) {
    auto env = [](std::string_view config) {
        return R"({"type":"reconfigure","config_table":)" + std::string(config) + "}";
    };
    EXPECT_EQ(decode_error(env(R"({"services":[]})")), "config_table has no _format_version");
    EXPECT_EQ(decode_error(env(R"({"_format_version":3})")),
              "config_table._format_version is a number, not a string");
    EXPECT_EQ(decode_error(env(R"({"_format_version":"3.0","services":"x"})")),
              "config_table.services is a string, expected an array of entities");
    EXPECT_EQ(decode_error(env(R"({"_format_version":"3.0","services":[{},{},7]})")),
              "config_table.services[2] is a number, expected an object");
    EXPECT_EQ(decode_error(env(R"({"_format_version":"3.0","services":{"a":{}}})")),
              "config_table.services is a non-empty object, expected an array");
    EXPECT_EQ(decode_error(env(R"({"_format_version":"3.0","_transform":"no"})")),
              "config_table._transform is a string, not a boolean");
    // Underscore members other than those two are Kong's metadata (_comment, _ignore, ...).
    EXPECT_EQ(decode_error(env(R"({"_format_version":"3.0","_comment":{"a":1},"services":{}})")), "accepted");
}

TEST(envelope, stored_configs_are_validated_and_hashed) {
    auto r = snapshot_from_config_table(" \n" + config_text + "\n", config_source::fallback);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ((*r)->config_json, config_text);
    EXPECT_EQ((*r)->source, config_source::fallback);
    const auto expected = kong_config_hashes(boost::json::parse(config_text).get_object());
    EXPECT_EQ((*r)->hash, expected.config);
    EXPECT_EQ((*r)->hashes.routes, expected.routes);

    config_hashes known{hash_a, {}, {}, {}, {}, {}};
    r = snapshot_from_config_table(config_text, config_source::cache, &known);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ((*r)->hash, hash_a);
    EXPECT_EQ((*r)->hashes.plugins, std::string(empty_config_hash));

    EXPECT_EQ(snapshot_from_config_table("[]", config_source::cache).error(),
              "the config is an array, not a JSON object");
    EXPECT_EQ(snapshot_from_config_table(R"({"services":[]})", config_source::cache).error(),
              "the config has no _format_version");
    EXPECT_EQ(snapshot_from_config_table(R"({"_format_version":"3.0")", config_source::cache).error(),
              "invalid JSON at byte 24: incomplete JSON");
    EXPECT_EQ(snapshot_from_config_table(R"({"_format_version":"3.0","services":[1]})", config_source::cache)
                  .error(),
              "services[0] is a number, expected an object");
}

namespace {

// The config fed to a reader in pieces of `piece` bytes; "accepted" or the reason, and the
// number of bytes fed when the reader first said no.
struct fed_result {
    std::string outcome;
    std::size_t fed_when_refused = 0;
    snapshot_ptr snapshot;
};

fed_result feed_in_pieces(std::string_view text, std::size_t piece, const config_hashes* known = nullptr) {
    fed_result out;
    config_table_reader reader(text.size());
    for (std::size_t at = 0; at < text.size(); at += piece) {
        if (!reader.feed(text.substr(at, piece))) {
            out.outcome = reader.error();
            out.fed_when_refused = std::min(at + piece, text.size());
            EXPECT_FALSE(reader.feed("{}")) << "a refused reader stays refused";
            return out;
        }
    }
    EXPECT_EQ(reader.size(), text.size());
    auto table = reader.finish();
    if (!table) {
        out.outcome = table.error();
        return out;
    }
    auto snap = snapshot_from_validated(std::move(table).value(), config_source::fallback, known);
    if (!snap) {
        out.outcome = snap.error();
        return out;
    }
    out.outcome = "accepted";
    out.snapshot = snap.value();
    return out;
}

} // namespace

TEST(envelope, a_config_fed_in_pieces_gives_the_snapshot_of_the_whole_text) {
    // Escaped and non-ASCII strings, numbers and nesting, so that pieces split every kind of token.
    const std::string text =
        " \n" + config_text.substr(0, config_text.size() - 1) +
        R"(,"plugins":[{"name":"rate-limiting","config":{"minute":5,"ratio":0.25,"path":"\/a\"b\u00e9"}}],)"
        R"("upstreams":[{"name":"u","targets":[{"target":"h:80","weight":100}]}],"_note\"s":[null,true,false,-1e3]})"
        "\n";
    auto whole = snapshot_from_config_table(text, config_source::fallback);
    ASSERT_TRUE(whole) << whole.error();
    for (std::size_t piece : {std::size_t(1), std::size_t(2), std::size_t(7), std::size_t(64), text.size()}) {
        auto fed = feed_in_pieces(text, piece);
        ASSERT_EQ(fed.outcome, "accepted") << "pieces of " << piece;
        EXPECT_EQ(fed.snapshot->config_json, (*whole)->config_json) << "pieces of " << piece;
        EXPECT_EQ(fed.snapshot->hash, (*whole)->hash) << "pieces of " << piece;
        EXPECT_EQ(fed.snapshot->hashes.plugins, (*whole)->hashes.plugins);
        EXPECT_EQ(fed.snapshot->source, config_source::fallback);
    }
    // A known hash (an exporter's metadata) is taken as it is, as for a whole text.
    config_hashes known{hash_a, {}, {}, {}, {}, {}};
    auto fed = feed_in_pieces(text, 100, &known);
    ASSERT_EQ(fed.outcome, "accepted");
    EXPECT_EQ(fed.snapshot->hash, hash_a);
    EXPECT_EQ(fed.snapshot->hashes.routes, std::string(empty_config_hash));
}

TEST(envelope, a_config_fed_in_pieces_is_refused_as_the_whole_text_would_be) {
    for (const std::string bad :
         {std::string("[]"), std::string(R"({"services":[]})"), std::string(R"({"_format_version":"3.0")"),
          std::string(R"({"_format_version":"3.0","services":[1]})"), std::string(R"({"_format_version":3})"),
          std::string(R"({"_format_version":"3.0","services":{"a":{}}})"),
          std::string(R"({"_format_version":"3.0"} {})"), std::string(R"({"_format_version":"3.0",})"),
          std::string(R"({"_format_version":"3.0","routes":[{"paths":["/a]}]})"), std::string(""),
          std::string("  ")}) {
        const auto whole = snapshot_from_config_table(bad, config_source::fallback);
        ASSERT_FALSE(whole) << bad;
        for (std::size_t piece : {std::size_t(1), std::size_t(5), std::size_t(4096)})
            EXPECT_EQ(feed_in_pieces(bad, piece).outcome, whole.error()) << bad << " in pieces of " << piece;
    }
}

TEST(envelope, a_config_fed_in_pieces_is_refused_at_its_first_bad_byte) {
    // A backup that goes wrong early is refused there, not after the rest of a large object.
    std::string text = R"({"_format_version":"3.0","services":[7,)";
    const std::size_t bad_at = text.find('7');
    for (int i = 0; i < 20000; ++i)
        text += R"({"name":"s","host":"h","port":80},)";
    text += "{}]}";
    auto fed = feed_in_pieces(text, 16);
    EXPECT_EQ(fed.outcome, "services[0] is a number, expected an object");
    EXPECT_LE(fed.fed_when_refused, bad_at + 16);
}

TEST(envelope, a_restarted_reader_forgets_what_it_was_fed) {
    config_table_reader reader;
    EXPECT_TRUE(reader.feed(config_text.substr(0, 30)));
    reader.restart(config_text.size());
    EXPECT_EQ(reader.size(), 0u);
    ASSERT_TRUE(reader.feed(config_text));
    auto table = reader.finish();
    ASSERT_TRUE(table) << table.error();
    EXPECT_EQ(table->text, config_text);

    // And after a refusal, a restart gives it a clean slate.
    EXPECT_FALSE(reader.feed("[")); // spent by finish(): a fresh, empty text that is an array
    reader.restart();
    EXPECT_TRUE(reader.feed(config_text));
    EXPECT_TRUE(reader.finish());
}

// Issue #19: what lifeboat validates is what the gateway reads. Kong's declarative schema knows
// only these _format_versions, and its JSON decoder keeps the last of two equal keys, so a
// duplicate would be validated in one reading and applied in another: refused, in a frame, a
// whole stored config and a streamed one alike.
TEST(envelope, only_format_versions_kong_knows_and_no_duplicate_keys) {
    auto env = [](std::string_view config) {
        return R"({"type":"reconfigure","config_table":)" + std::string(config) + "}";
    };
    auto stored = [](std::string_view config) {
        auto r = snapshot_from_config_table(std::string(config), config_source::cache);
        return r ? std::string("accepted") : r.error();
    };
    auto streamed = [](std::string_view config) { return feed_in_pieces(config, 7).outcome; };

    for (const char* version : {"3.0", "2.1", "1.1"}) {
        const auto config = fmt::format(R"({{"_format_version":"{}","services":[]}})", version);
        EXPECT_EQ(decode_error(env(config)), "accepted") << version;
        EXPECT_EQ(stored(config), "accepted") << version;
    }
    const std::string v99 = R"({"_format_version":"99.0","services":[]})";
    EXPECT_EQ(decode_error(env(v99)),
              R"(config_table._format_version "99.0" is not one Kong knows ("3.0", "2.1" or "1.1"))");
    EXPECT_EQ(stored(v99), R"(_format_version "99.0" is not one Kong knows ("3.0", "2.1" or "1.1"))");
    EXPECT_EQ(streamed(v99), R"(_format_version "99.0" is not one Kong knows ("3.0", "2.1" or "1.1"))");

    // The case from the issue: "3.0" then "1.1".
    const std::string twice = R"({"_format_version":"3.0","services":[],"_format_version":"1.1"})";
    const std::string why = "duplicate key \"_format_version\": Kong would keep only the last one, so the "
                            "gateway would read something other than what was validated";
    EXPECT_EQ(decode_error(env(twice)), why);
    EXPECT_EQ(stored(twice), why);
    EXPECT_EQ(streamed(twice), why);
    // Inside an entity, at any depth; equal keys in different objects are fine.
    const std::string in_entity =
        R"({"_format_version":"3.0","services":[{"id":"a","host":"x"},{"id":"b","host":"x","host":"y"}]})";
    EXPECT_EQ(stored(in_entity), "duplicate key \"host\" in services: Kong would keep only the last one, so "
                                 "the gateway would read something other than what was validated");
    EXPECT_EQ(streamed(in_entity), stored(in_entity));
    const std::string deep = R"({"_format_version":"3.0","plugins":[{"config":{"a":{"b":1,"b":2}}}]})";
    EXPECT_NE(stored(deep).find("duplicate key \"b\""), std::string::npos) << stored(deep);
    // An escaped key equals its plain spelling.
    const std::string escaped = R"({"_format_version":"3.0","services":[{"host":"x","h\u006fst":"y"}]})";
    EXPECT_NE(stored(escaped).find("duplicate key \"host\""), std::string::npos) << stored(escaped);
    // A large object (past the linear search) still finds them.
    std::string wide = R"({"_format_version":"3.0","services":[{)";
    for (int i = 0; i < 100; ++i)
        wide += fmt::format(R"("k{}":1,)", i);
    wide += R"("k57":2}]})";
    EXPECT_NE(stored(wide).find("duplicate key \"k57\""), std::string::npos) << stored(wide);
    EXPECT_EQ(stored(R"({"_format_version":"3.0","services":[{"a":{"x":1}},{"a":{"x":1}}]})"), "accepted");
}

// Issue #19: a small input that inflates to millions of empty entities is refused at the cap,
// not accepted at gigabytes of memory.
TEST(envelope, a_config_over_the_entity_cap_is_refused_in_one_line) {
    std::string config = R"({"_format_version":"3.0","services":[)";
    config.reserve(3 * max_config_entities + 100);
    for (std::size_t i = 0; i < max_config_entities; ++i)
        config += i == 0 ? "{}" : ",{}";
    const std::string at_cap = config + "]}";
    const std::string over = config + ",{}]}";
    const std::string why = "the config has more than 1000000 entities (the limit per config)";
    auto frame = [](const std::string& c) { return R"({"type":"reconfigure","config_table":)" + c + "}"; };
    EXPECT_EQ(decode_error(frame(at_cap), 64 << 20), "accepted");
    EXPECT_EQ(decode_error(frame(over), 64 << 20), why);
    auto stored = snapshot_from_config_table(over, config_source::cache);
    ASSERT_FALSE(stored);
    EXPECT_EQ(stored.error(), why);
    EXPECT_EQ(feed_in_pieces(over, 1 << 16).outcome, why);
}
