// Kong's config hash on worked examples. Expected values come from outside this code base:
//  - Kong's own unit tests (spec/01-unit/19-hybrid/02-clustering_spec.lua in Kong/kong), whose
//    inputs are rebuilt here as JSON;
//  - sorted strings derived by hand from the rules in kong_hash.hpp, hashed with md5sum:
//      printf '%s' 'a;b;c;d;e;f;' | md5sum
//  - the compaction cases, computed with Python's hashlib:
//      A = (b'x'*300000 + b';')*4; md5(md5(A).digest() + (b'x'*300000 + b';')*2)
#include "base/digest.hpp"
#include "protocol/kong_hash.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace lifeboat;
using namespace lifeboat::protocol;
namespace json = boost::json;

namespace {
json::value parse(std::string_view text) {
    return json::parse(text);
}
const std::string zeros(32, '0');
} // namespace

// Scalars: Kong's spec asserts md5 of the plain rendering.
TEST(kong_hash, scalars_match_kongs_spec) {
    EXPECT_EQ(kong_value_hash(nullptr), "5bf07a8b7343015026657d1108d8206e"); // md5("/null/")
    EXPECT_EQ(kong_value_hash(10), "d3d9446802a44259755d38e6d163e820");      // md5("10")
    EXPECT_EQ(kong_value_hash(0.9), "a894124cc6d5c5c71afe060d5dde0762");     // md5("0.9")
    EXPECT_EQ(kong_value_hash(""), "d41d8cd98f00b204e9800998ecf8427e");      // md5("")
    EXPECT_EQ(kong_value_hash("hello"), "5d41402abc4b2a76b9719d911017c592"); // md5("hello")
    EXPECT_EQ(kong_value_hash(false), "68934a3e9455fa72420237eb05902327");   // md5("false")
    EXPECT_EQ(kong_value_hash(true), "b326b5062b2f0e69046810717534cb09");    // md5("true")
}

// Arrays: 1-5 items are joined with ';', 6+ items each get a trailing ';'.
TEST(kong_hash, short_and_long_arrays) {
    EXPECT_EQ(kong_sorted_string(parse("[1]")), "1");
    EXPECT_EQ(kong_value_hash(parse("[1]")), "c4ca4238a0b923820dcc509a6f75849b");
    EXPECT_EQ(kong_sorted_string(parse("[1,2]")), "1;2");
    EXPECT_EQ(kong_value_hash(parse("[1,2]")), "efd63c6f409af55a5ff51bd940f3ec04");
    EXPECT_EQ(kong_sorted_string(parse(R"(["a","b","c","d","e"])")), "a;b;c;d;e");
    EXPECT_EQ(kong_value_hash(parse(R"(["a","b","c","d","e"])")), "3352b3d41cccf7cac7bf23d40cc479ee");
    EXPECT_EQ(kong_sorted_string(parse(R"(["a","b","c","d","e","f"])")), "a;b;c;d;e;f;");
    EXPECT_EQ(kong_value_hash(parse(R"(["a","b","c","d","e","f"])")), "972d17d5cbacecf849b877935f7c0f89");
}

// Objects: sorted keys, "key:" value ";"; nested containers follow the same rules.
TEST(kong_hash, nested_objects_null_and_empty_tables) {
    const auto v = parse(R"({"b":{"y":[true,null],"x":1.5},"a":"s"})");
    EXPECT_EQ(kong_sorted_string(v), "a:s;b:x:1.5;y:true;/null/;;");
    EXPECT_EQ(kong_value_hash(v), "cd5d8d5a0292465e5665ca42b8fd46e9");
    // An empty object and an empty array are both "{}" (Lua cannot tell them apart).
    EXPECT_EQ(kong_sorted_string(parse("{}")), "{}");
    EXPECT_EQ(kong_sorted_string(parse("[]")), "{}");
    EXPECT_EQ(kong_value_hash(parse(R"({"a":[]})")), "7aaf2b5d1c1138b9e5659403dcfe13eb"); // md5("a:{};")
    EXPECT_EQ(kong_value_hash(parse(R"({"a":{}})")), "7aaf2b5d1c1138b9e5659403dcfe13eb");
}

// Keys sort by unsigned bytes (LuaJIT compares strings with memcmp): 'B' < 'Z' < '_' < 'a' < 0xC3.
TEST(kong_hash, keys_sort_bytewise) {
    const auto v = parse(R"({"a":4,"\u00e9":5,"_x":3,"Z":2,"B":1})");
    EXPECT_EQ(kong_sorted_string(v), "B:1;Z:2;_x:3;a:4;\xc3\xa9:5;");
    EXPECT_EQ(kong_value_hash(v), "edbe36ceae6ec5d950ad91e579f0b233");
}

// LuaJIT's tostring is "%.14g" (values checked against Python's '%.14g' % v).
TEST(kong_hash, numbers_print_like_luajit) {
    EXPECT_EQ(lua_number(1e14), "1e+14");
    EXPECT_EQ(lua_number(99999999999999.0), "99999999999999");
    EXPECT_EQ(lua_number(123456789012345678.0), "1.2345678901235e+17");
    EXPECT_EQ(lua_number(9007199254740993.0), "9.007199254741e+15");
    EXPECT_EQ(lua_number(0.1), "0.1");
    EXPECT_EQ(lua_number(-2.5), "-2.5");
    EXPECT_EQ(lua_number(3.0), "3");
    EXPECT_EQ(lua_number(1e-7), "1e-07");
    EXPECT_EQ(lua_number(-0.0), "-0");
    EXPECT_EQ(lua_number(1700000000.123), "1700000000.123");
    // JSON integers are numbers like any other: 3 and 3.0 render the same.
    EXPECT_EQ(kong_sorted_string(parse("[3, 3.0, 1700000000, 18446744073709551615]")),
              "3;3;1700000000;1.844674407371e+19");
}

// The compaction: before each value, a buffer longer than 1,000,000 bytes becomes md5_bin(buffer).
TEST(kong_hash, buffer_compaction_threshold) {
    const std::string x(300000, 'x');
    json::array six;
    for (int i = 0; i < 6; ++i)
        six.push_back(json::string(x));
    // After four items the buffer holds 1,200,004 bytes; the fifth item's visit compacts it.
    std::string first_four;
    for (int i = 0; i < 4; ++i)
        first_four += x + ";";
    EXPECT_EQ(kong_sorted_string(six), md5(first_four) + x + ";" + x + ";");
    EXPECT_EQ(kong_value_hash(six), "bf3eb372889c940cdef793eed7f333ee");

    // Exactly 1,000,000 bytes is not "more than" the threshold: no compaction.
    json::array exact{json::string(std::string(999999, 'y')), "z"};
    EXPECT_EQ(kong_value_hash(exact), "465b260cb14916633564353ff46d4da6");
    // 1,000,001 bytes is.
    json::array over{json::string(std::string(1000000, 'y')), "z"};
    EXPECT_EQ(kong_value_hash(over), "a0f5c6350cc6939c49d65cae7fcb7459");
    std::string compacted = md5(std::string(1000000, 'y').append(";"));
    compacted.push_back('z');
    EXPECT_EQ(kong_sorted_string(over), compacted);
}

// calculate_config_hash: the examples of Kong's spec.
TEST(kong_hash, config_hash_matches_kongs_spec) {
    auto h = kong_config_hashes(json::object{});
    EXPECT_EQ(h.config, "2da3c26e4dbd6dd6ea3ab60a3dd7fb3e");
    EXPECT_EQ(h.routes, zeros);
    EXPECT_EQ(h.services, zeros);
    EXPECT_EQ(h.plugins, zeros);
    EXPECT_EQ(h.upstreams, zeros);
    EXPECT_EQ(h.targets, zeros);
    // By hand: five absent sections and md5("{}") for the empty rest.
    EXPECT_EQ(h.config, md5_hex(zeros + zeros + zeros + zeros + zeros + "99914b932bd37a50b983c5e7c90ae93b"));

    h = kong_config_hashes(parse(R"({"routes":{},"services":[],"plugins":{}})").get_object());
    EXPECT_EQ(h.config, "81aac97a81ad03c0cf0b36663806488e");
    EXPECT_EQ(h.routes, "99914b932bd37a50b983c5e7c90ae93b");
    EXPECT_EQ(h.services, "99914b932bd37a50b983c5e7c90ae93b");
    EXPECT_EQ(h.plugins, "99914b932bd37a50b983c5e7c90ae93b");
    EXPECT_EQ(h.upstreams, zeros);

    h = kong_config_hashes(parse(R"({"upstreams":{},"targets":{}})").get_object());
    EXPECT_EQ(h.config, "4d60dd9998ea4314039da5ca2f1db96f");
    EXPECT_EQ(h.upstreams, "99914b932bd37a50b983c5e7c90ae93b");
    EXPECT_EQ(h.targets, "99914b932bd37a50b983c5e7c90ae93b");
}

// Kong's "complex table": every array length, booleans, numbers, null, an empty table, a nested
// hash, and 1000 consumers in the rest of the table.
TEST(kong_hash, complex_table_matches_kongs_spec) {
    auto config = parse(R"({"plugins":[
        {"name":"0","config":{"param":"value"}},
        {"name":"1","config":{"param":["v1","v2","v3","v4","v5","v6"]}},
        {"name":"2","config":{"param":["v1","v2","v3","v4","v5"]}},
        {"name":"3","config":{"param":["v1","v2","v3","v4"]}},
        {"name":"4","config":{"param":["v1","v2","v3"]}},
        {"name":"5","config":{"param":["v1","v2"]}},
        {"name":"6","config":{"param":["v1"]}},
        {"name":"7","config":{"param":{}}},
        {"name":"8","config":{"param":"value","array":["v1","v2","v3","v4","v5","v6"]}},
        {"name":"9","config":{"bool1":true,"bool2":false,"number":1,"double":1.1,"empty":{},"null":null,
                              "string":"test","hash":{"k":"v"},"array":["v1","v2","v3","v4","v5","v6"]}}
    ]})");
    json::array consumers;
    for (int i = 1; i <= 1000; ++i)
        consumers.push_back(json::object{{"username", "user-" + std::to_string(i)}});
    config.get_object()["consumers"] = std::move(consumers);
    EXPECT_EQ(kong_config_hashes(config.get_object()).config, "675ff4b6b1c8cefa5198284110786ad0");
}

// A section present as JSON null hashes as "/null/" (Lua sees ngx.null, not nil).
TEST(kong_hash, null_section_is_not_absent) {
    const auto h = kong_config_hashes(parse(R"({"routes":null})").get_object());
    EXPECT_EQ(h.routes, "5bf07a8b7343015026657d1108d8206e");
}
