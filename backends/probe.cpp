#include "backends/probe.hpp"

#include "backends/layout.hpp"

#include <fmt/format.h>

#include <random>

namespace lifeboat::backends {
namespace {

std::string random_suffix() {
    std::random_device rd;
    return fmt::format("{:08x}{:08x}", rd(), rd());
}

// A store that does not implement a conditional header at all answers 400 or 501; that is "not
// enforced", not a failure to probe.
bool unsupported(const store_error& e) {
    return e.code == store_errc::invalid_argument || e.http_status == 501 ||
           (e.http_status == 400 && e.code == store_errc::protocol);
}

bool refused(const store_error& e) {
    // 409 ConditionalRequestConflict: a concurrent conditional write; either way ours was refused.
    return e.code == store_errc::precondition_failed || e.code == store_errc::conflict;
}

put_options with(write_condition condition, std::string expected = {}) {
    put_options o;
    o.content_type = "text/plain";
    o.condition = condition;
    o.expected_version = std::move(expected);
    return o;
}

} // namespace

boost::asio::awaitable<store_result<conditional_write_report>>
probe_conditional_writes_report(object_store& store, std::string scratch_prefix) {
    conditional_write_report report;
    report.scratch_key = join_key(scratch_prefix, "conditional-write-probe-" + random_suffix());
    const auto& key = report.scratch_key;
    // Distinct bodies, so that stores whose version is a content hash (S3 ETags) give every
    // write a distinct version.
    auto body = [&](int n) {
        return body_source::from_string(fmt::format("lifeboat conditional-write probe {}", n));
    };

    auto first = co_await store.put(key, body(1), with(write_condition::if_absent));
    if (!first) {
        if (!unsupported(first.error()))
            co_return failure{first.error()};
        report.detail = "the store refused a create-if-absent write: " + first.error().to_string();
        co_return report;
    }

    std::optional<store_error> error;
    auto second = co_await store.put(key, body(2), with(write_condition::if_absent));
    if (second)
        report.detail = "a second create-if-absent write of one key succeeded";
    else if (refused(second.error()))
        report.create_if_absent_enforced = true;
    else if (unsupported(second.error()))
        report.detail = "the store refused a create-if-absent write: " + second.error().to_string();
    else
        error = second.error();

    if (!error) {
        auto current = co_await store.head(key);
        if (!current)
            error = current.error();
        else {
            const std::string stale = version_token(*first);
            auto swap =
                co_await store.put(key, body(3), with(write_condition::if_match, version_token(*current)));
            if (!swap) {
                if (refused(swap.error()) || unsupported(swap.error()))
                    report.detail = (report.detail.empty() ? "" : report.detail + "; ") +
                                    "a compare-and-swap with the current version was refused: " +
                                    swap.error().to_string();
                else
                    error = swap.error();
            } else if (version_token(*swap) == stale) {
                report.detail =
                    (report.detail.empty() ? "" : report.detail + "; ") +
                    "the version did not change on a write, so compare-and-swap cannot tell writes apart";
            } else {
                auto stale_swap = co_await store.put(key, body(4), with(write_condition::if_match, stale));
                if (stale_swap)
                    report.detail = (report.detail.empty() ? "" : report.detail + "; ") +
                                    "a compare-and-swap with a stale version succeeded";
                else if (refused(stale_swap.error()))
                    report.compare_and_swap_enforced = true;
                else if (unsupported(stale_swap.error()))
                    report.detail = (report.detail.empty() ? "" : report.detail + "; ") +
                                    "the store refused a compare-and-swap: " + stale_swap.error().to_string();
                else
                    error = stale_swap.error();
            }
        }
    }

    auto removed = co_await store.remove(key);
    if (!removed) {
        report.cleaned_up = false;
        report.detail = (report.detail.empty() ? "" : report.detail + "; ") + "the scratch object " + key +
                        " could not be removed: " + removed.error().to_string();
    }
    if (error)
        co_return failure{*error};
    co_return report;
}

boost::asio::awaitable<store_result<bool>> probe_conditional_writes(object_store& store,
                                                                    std::string scratch_prefix) {
    auto report = co_await probe_conditional_writes_report(store, std::move(scratch_prefix));
    if (!report)
        co_return failure{report.error()};
    co_return report->enforced();
}

} // namespace lifeboat::backends
