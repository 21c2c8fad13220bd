// TLS contexts for the cluster link, both ends (Kong's cluster_mtls modes):
//  - shared: one certificate on both sides. The DP trusts exactly that certificate (and pins
//    it: the CP must present the very same one); the CP accepts any client certificate during
//    the handshake and then compares its SHA-256 with its own (Kong: ssl_verify_client
//    optional_no_ca, then a digest check).
//  - pki: the DP verifies the CP against cluster_ca_cert and the server name; the CP requires a
//    client certificate that chains to the same CA (depth 4).
// TLS 1.2 is the minimum. Errors name the file and what is wrong with it.
#pragma once

#include "base/result.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>

#include <openssl/ssl.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace lifeboat::protocol {

struct tls_client_settings {
    std::filesystem::path cert, key; // presented to the CP
    std::filesystem::path ca;        // trusted (shared mode: the cert itself)
    bool pin_peer_to_own_cert = false;
};

struct client_tls {
    std::shared_ptr<boost::asio::ssl::context> context;
    std::string pinned_der; // shared mode: the certificate the CP must present (DER)
};

result<client_tls, std::string> make_client_tls_context(const tls_client_settings& settings);

// Host-name check (Kong's lua-nginx-module checks the name it sent as SNI), plus the pin.
std::function<bool(bool, boost::asio::ssl::verify_context&)> make_peer_verifier(std::string host,
                                                                                std::string pinned_der);

struct tls_server_settings {
    std::filesystem::path cert, key;
    std::filesystem::path ca; // pki: client certificates must chain to it; empty: shared mode
};

struct server_tls {
    std::shared_ptr<boost::asio::ssl::context> context;
    std::string own_cert_sha256; // shared mode: what a client certificate must hash to
};

result<server_tls, std::string> make_server_tls_context(const tls_server_settings& settings);

// The first certificate of a PEM file, as DER.
result<std::string, std::string> read_cert_der(const std::filesystem::path& pem_file);
// The peer's certificate as DER ("" if none was presented).
std::string peer_cert_der(SSL* ssl);

} // namespace lifeboat::protocol
