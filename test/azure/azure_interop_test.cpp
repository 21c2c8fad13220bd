// lifeboat and Microsoft's @azure/storage-blob on one Azurite container: the SDK reads byte for
// byte what lifeboat wrote (awkward blob names, metadata, content type) and lifeboat reads what
// the SDK wrote.
#include "backends/azure/azure_store.hpp"
#include "base/atomic_file.hpp"
#include "harness/azurite_store.hpp"
#include "harness/test_env.hpp"
#include "s3/run_async.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace lifeboat;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> awkward_names = {
    "with space",
    "plus+sign",
    "percent%41",
    "percent%",
    "tilde~",
    "eq=uals&amp",
    "unicode-\xc3\xa9\xe4\xb8\xad",
    "semi;colon",
    "quote'and\"double",
    "hash#frag?query",
};

struct azure_interop : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();
    std::string prefix = "interop/" + test::unique_suffix() + "/";
    std::unique_ptr<backends::object_store> store;

    void SetUp() override {
        auto o = azure::azure_options::from_environment(test::azurite().account, test::azurite().container,
                                                        test::azurite_store_environment());
        ASSERT_TRUE(o.ok()) << o.error();
        store = azure::make_azure_store(ioc.get_executor(), std::move(o).value()).value();
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

} // namespace

TEST_F(azure_interop, the_sdk_reads_what_lifeboat_wrote) {
    for (std::size_t i = 0; i < awkward_names.size(); ++i) {
        const auto key = prefix + "dir/" + awkward_names[i];
        const auto body = test::random_bytes(1000 + i * 37, static_cast<unsigned>(i + 1));
        backends::put_options po;
        po.content_type = "application/json";
        po.metadata = {{"uploader", "node 1 (a+b=c; 100%)"}, {"lifeboat-config-hash", "abc123"}};
        auto put = run(store->put(key, backends::body_source::from_string(body), po));
        ASSERT_TRUE(put.ok()) << awkward_names[i] << ": " << put.error().to_string();

        auto got = test::sdk({"get", test::azurite().container, key, (dir / "sdk.bin").string()});
        ASSERT_EQ(got.exit_code, 0) << awkward_names[i] << ": " << got.err;
        EXPECT_EQ(read_whole_file(dir / "sdk.bin").value(), body) << awkward_names[i];
        const auto props = boost::json::parse(got.out).as_object();
        EXPECT_EQ(props.at("contentType").as_string(), "application/json");
        EXPECT_EQ(props.at("size").to_number<std::uint64_t>(), body.size());
        const auto& meta = props.at("metadata").as_object();
        EXPECT_EQ(meta.at("uploader").as_string(), "node 1 (a+b=c; 100%)");
        EXPECT_EQ(meta.at("lifeboat_config_hash").as_string(), "abc123") << "Azure's spelling of the name";
        EXPECT_EQ("\"" + put->etag + "\"", std::string(props.at("etag").as_string()));
    }
    auto names = test::sdk({"list", test::azurite().container, prefix + "dir/"});
    ASSERT_EQ(names.exit_code, 0) << names.err;
    EXPECT_EQ(boost::json::parse(names.out).as_array().size(), awkward_names.size());
}

TEST_F(azure_interop, lifeboat_reads_what_the_sdk_wrote) {
    for (std::size_t i = 0; i < awkward_names.size(); ++i) {
        const auto key = prefix + "sdk/" + awkward_names[i];
        const auto body = test::random_bytes(2000 + i * 101, static_cast<unsigned>(i + 50));
        { std::ofstream(dir / "in.bin", std::ios::binary) << body; }
        auto put = test::sdk({"put", test::azurite().container, key, (dir / "in.bin").string(),
                              R"({"uploader":"sdk-node","lifeboat_term":"12"})", "application/json"});
        ASSERT_EQ(put.exit_code, 0) << awkward_names[i] << ": " << put.err;
        auto got = run(store->get(key));
        ASSERT_TRUE(got.ok()) << awkward_names[i] << ": " << got.error().to_string();
        EXPECT_EQ(got->bytes, body) << awkward_names[i];
        EXPECT_EQ(got->info.content_type, "application/json");
        EXPECT_EQ(got->info.metadata.at("uploader"), "sdk-node");
        EXPECT_EQ(got->info.metadata.at("lifeboat-term"), "12");
    }
    auto listed = run(store->list(prefix + "sdk/"));
    ASSERT_TRUE(listed.ok()) << listed.error().to_string();
    ASSERT_EQ(listed->size(), awkward_names.size());
    std::vector<std::string> expected;
    for (const auto& n : awkward_names)
        expected.push_back(prefix + "sdk/" + n);
    std::sort(expected.begin(), expected.end());
    for (std::size_t i = 0; i < expected.size(); ++i)
        EXPECT_EQ((*listed)[i].key, expected[i]);
}
