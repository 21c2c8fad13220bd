// Azure Storage Shared Key signing (the Blob service, version 2009-09-19 and later): the
// string-to-sign built from a request's method, standard headers, x-ms-* headers and resource,
// HMAC-SHA256 with the account key. Pure functions, no I/O: tests check them against a
// signature computed by Microsoft's SDK.
//   https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
#pragma once

#include "base/result.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifeboat::azure {

struct shared_key_request {
    std::string method;  // "PUT"
    std::string account; // the storage account the key belongs to
    std::string
        encoded_path; // the request's path as sent ("/container/a%20b"; Azurite: "/devstoreaccount1/...")
    std::vector<std::pair<std::string, std::string>> query;   // decoded names and values
    std::vector<std::pair<std::string, std::string>> headers; // every header of the request, any case
};

std::string string_to_sign(const shared_key_request& request);

// "SharedKey <account>:<base64 HMAC-SHA256>"; `key` is the decoded account key.
std::string shared_key_authorization(const shared_key_request& request, std::string_view key);

// The account key as given (base64) -> its bytes; one-line error naming `origin`, never the key.
result<std::string, std::string> decode_account_key(std::string_view base64_key, std::string_view origin);

} // namespace lifeboat::azure
