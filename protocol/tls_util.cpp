#include "protocol/tls_util.hpp"

#include "base/digest.hpp"

#include <boost/asio/ssl/host_name_verification.hpp>

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

namespace lifeboat::protocol {
namespace ssl = boost::asio::ssl;

namespace {

std::string der_of(X509* x) {
    const int len = i2d_X509(x, nullptr);
    if (len <= 0)
        return {};
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(x, &p);
    return der;
}

result<void, std::string> readable(const std::filesystem::path& file, std::string_view what) {
    if (file.empty())
        return failure(fmt::format("no {} configured", what));
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        return failure(fmt::format("{} {}: no such file", what, file.string()));
    return ok_v;
}

result<void, std::string> load_identity(ssl::context& ctx, const std::filesystem::path& cert,
                                        const std::filesystem::path& key) {
    if (auto r = readable(cert, "certificate"); !r)
        return r;
    if (auto r = readable(key, "private key"); !r)
        return r;
    if (auto der = read_cert_der(cert); !der)
        return failure(std::move(der.error()));
    boost::system::error_code ec;
    ctx.use_certificate_chain_file(cert.string(), ec);
    if (ec)
        return failure(fmt::format("certificate {}: {}", cert.string(), ec.message()));
    ctx.use_private_key_file(key.string(), ssl::context::pem, ec);
    if (ec)
        return failure(fmt::format("private key {}: {}", key.string(), ec.message()));
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
        return failure(
            fmt::format("private key {} does not belong to certificate {}", key.string(), cert.string()));
    return ok_v;
}

result<void, std::string> load_trust(ssl::context& ctx, const std::filesystem::path& ca) {
    if (auto r = readable(ca, "CA certificate"); !r)
        return r;
    if (auto der = read_cert_der(ca); !der)
        return failure(std::move(der.error()));
    boost::system::error_code ec;
    ctx.load_verify_file(ca.string(), ec);
    if (ec)
        return failure(fmt::format("CA certificate {}: {}", ca.string(), ec.message()));
    return ok_v;
}

} // namespace

result<std::string, std::string> read_cert_der(const std::filesystem::path& pem_file) {
    BIO* bio = BIO_new_file(pem_file.c_str(), "r");
    if (!bio)
        return failure(fmt::format("certificate {}: cannot read it", pem_file.string()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!x)
        return failure(fmt::format("certificate {}: no PEM certificate in it", pem_file.string()));
    std::string der = der_of(x);
    X509_free(x);
    return der;
}

std::string peer_cert_der(SSL* ssl) {
    X509* x = SSL_get1_peer_certificate(ssl);
    if (!x)
        return {};
    std::string der = der_of(x);
    X509_free(x);
    return der;
}

result<client_tls, std::string> make_client_tls_context(const tls_client_settings& s) {
    client_tls out;
    out.context = std::make_shared<ssl::context>(ssl::context::tls_client);
    auto& ctx = *out.context;
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    if (auto r = load_identity(ctx, s.cert, s.key); !r)
        return failure(std::move(r.error()));
    if (auto r = load_trust(ctx, s.ca); !r)
        return failure(std::move(r.error()));
    if (s.pin_peer_to_own_cert) {
        // The shared certificate is usually self-signed, but need not be: let the leaf itself be
        // the trust anchor, and pin it below.
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
        auto der = read_cert_der(s.cert);
        if (!der)
            return failure(std::move(der.error()));
        out.pinned_der = std::move(der.value());
    }
    ctx.set_verify_mode(ssl::verify_peer);
    return out;
}

std::function<bool(bool, ssl::verify_context&)> make_peer_verifier(std::string host, std::string pinned_der) {
    return [name_check = ssl::host_name_verification(host),
            pinned = std::move(pinned_der)](bool preverified, ssl::verify_context& vctx) {
        X509_STORE_CTX* store = vctx.native_handle();
        if (!preverified)
            return false;
        if (X509_STORE_CTX_get_error_depth(store) != 0)
            return true;
        if (!name_check(preverified, vctx)) {
            X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
            return false;
        }
        if (!pinned.empty()) {
            X509* leaf = X509_STORE_CTX_get_current_cert(store);
            if (!leaf || der_of(leaf) != pinned) {
                X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
                return false;
            }
        }
        return true;
    };
}

result<server_tls, std::string> make_server_tls_context(const tls_server_settings& s) {
    server_tls out;
    out.context = std::make_shared<ssl::context>(ssl::context::tls_server);
    auto& ctx = *out.context;
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    if (auto r = load_identity(ctx, s.cert, s.key); !r)
        return failure(std::move(r.error()));
    if (s.ca.empty()) {
        // shared: ask for a client certificate, accept any in the handshake, compare digests after.
        auto der = read_cert_der(s.cert);
        if (!der)
            return failure(std::move(der.error()));
        out.own_cert_sha256 = sha256(der.value());
        ctx.set_verify_mode(ssl::verify_peer);
        ctx.set_verify_callback([](bool, ssl::verify_context&) { return true; });
    } else {
        if (auto r = load_trust(ctx, s.ca); !r)
            return failure(std::move(r.error()));
        ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        SSL_CTX_set_verify_depth(ctx.native_handle(), 4);
    }
    // Session resumption would skip the client-certificate check on reconnects; not worth it here.
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx.native_handle(), 0);
    return out;
}

} // namespace lifeboat::protocol
