// The elector scenarios (elector_scenarios.hpp) against Microsoft's Azurite through the Azure
// store: three electors, each with its own store instance (own connections and Shared Key
// signer), one container. Azurite enforces If-None-Match: * (409 BlobAlreadyExists) and
// If-Match (412 ConditionNotMet), both mapped to precondition_failed, as on Azure.
#include "backends/azure/azure_store.hpp"
#include "election/elector_scenarios.hpp"
#include "harness/azurite_store.hpp"

namespace lifeboat::test {
namespace {

store_factory azurite_store() {
    return {"azurite",
            [](boost::asio::any_io_executor ex) -> std::unique_ptr<backends::object_store> {
                auto options = azure::azure_options::from_environment(azurite().account, azurite().container,
                                                                      azurite_store_environment());
                EXPECT_TRUE(options.ok()) << options.error();
                auto store = azure::make_azure_store(std::move(ex), std::move(options.value()));
                EXPECT_TRUE(store.ok()) << store.error();
                return std::move(store).value();
            },
            true};
}

INSTANTIATE_TEST_SUITE_P(stores, elector_scenarios, ::testing::Values(azurite_store()),
                         [](const auto& info) { return info.param.name; });

} // namespace
} // namespace lifeboat::test
