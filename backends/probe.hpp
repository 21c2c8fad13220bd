// Does a store really enforce conditional writes? Some S3-compatible stores accept
// If-None-Match / If-Match and ignore them, which would let two leaders hold one term. The
// probe writes one scratch object (a fresh random key under `scratch_prefix`) and checks:
//   1. create-if-absent of a new key succeeds;
//   2. a second create-if-absent of that key fails with precondition_failed;
//   3. compare-and-swap with the object's current version succeeds (a store that refuses even
//      the right version cannot be used for fencing either);
//   4. compare-and-swap with a stale version fails with precondition_failed.
// The scratch object is removed at the end, whatever happened.
#pragma once

#include "backends/object_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace lifeboat::backends {

struct conditional_write_report {
    bool create_if_absent_enforced = false;
    bool compare_and_swap_enforced = false;
    std::string detail;      // why not, for the doctor and the log; empty when both hold
    std::string scratch_key; // the key the probe used
    bool cleaned_up = true;  // false: the scratch key could not be removed (detail says why)

    bool enforced() const { return create_if_absent_enforced && compare_and_swap_enforced; }
};

// An error when the store could not be asked (no write permission, network, credentials).
boost::asio::awaitable<store_result<conditional_write_report>>
probe_conditional_writes_report(object_store& store, std::string scratch_prefix);

// The election's form: true when both kinds of conditional write are enforced.
boost::asio::awaitable<store_result<bool>> probe_conditional_writes(object_store& store,
                                                                    std::string scratch_prefix);

} // namespace lifeboat::backends
