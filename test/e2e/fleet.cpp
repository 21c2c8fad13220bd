#include "fleet.hpp"

#include "base/atomic_file.hpp"
#include "cli/status_client.hpp"
#include "harness/azurite_store.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <signal.h>

namespace lifeboat::test {

cluster_certs make_cluster_certs(const std::filesystem::path& dir) {
    cluster_certs c{dir / "cluster.crt", dir / "cluster.key"};
    auto r = run({.args = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
                           "-nodes", "-keyout", c.key.string(), "-out", c.cert.string(), "-days", "2",
                           "-subj", "/CN=kong_clustering"},
                  .work_dir = dir,
                  .name = "openssl"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return c;
}

boost::json::value json_or_null(const std::string& text) {
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    return ec ? boost::json::value(nullptr) : value;
}

boost::json::value file_json(const std::filesystem::path& path) {
    auto text = read_whole_file(path);
    return text ? json_or_null(text.value()) : boost::json::value(nullptr);
}

boost::json::value rgw_object_json(const std::string& key) {
    const auto out = scratch_dir() / ("bucket-read-" + unique_suffix() + ".json");
    auto r = aws_s3api({"get-object", "--bucket", rgw().bucket, "--key", key, out.string()});
    if (r.exit_code != 0)
        return nullptr;
    auto value = file_json(out);
    std::filesystem::remove(out);
    return value;
}

bool applied(const agent_process& agent, const std::filesystem::path& gateway,
             const std::string& config_json) {
    return file_json(gateway) == boost::json::parse(config_json) &&
           agent.status_field("handoff", "state") == "ok";
}

std::string sample_config(const std::string& marker, std::size_t services) {
    std::string s = R"({"_format_version":"3.0","_transform":false,"services":[)";
    for (std::size_t i = 0; i < services; ++i) {
        if (i)
            s += ',';
        s += fmt::format(
            R"({{"id":"{:08x}-0000-4000-8000-{:012x}","name":"{}-svc-{}","host":"upstream-{}.internal",)"
            R"("port":8080,"protocol":"http","path":"/","retries":5,"connect_timeout":60000,)"
            R"("write_timeout":60000,"read_timeout":60000,"enabled":true,"tags":["lifeboat-test"]}})",
            i, i, marker, i, i);
    }
    s += R"(],"routes":[)";
    for (std::size_t i = 0; i < services; ++i) {
        if (i)
            s += ',';
        s += fmt::format(
            R"({{"id":"{:08x}-1111-4000-8000-{:012x}","name":"{}-route-{}","paths":["/{}/{}"],)"
            R"("service":"{:08x}-0000-4000-8000-{:012x}","strip_path":true,"protocols":["http","https"]}})",
            i, i, marker, i, marker, i, i, i);
    }
    s += "]}";
    return s;
}

reference_cp::reference_cp(const std::filesystem::path& dir, const cluster_certs& certs,
                           const std::string& config_json, unsigned short port,
                           std::vector<std::string> extra_args)
    : dir_(dir)
    , config_file_(dir / "cp-config.json")
    , certs_(certs)
    , port_(port ? port : free_port())
    , extra_args_(std::move(extra_args)) {
    set_config(config_json);
    start();
}

void reference_cp::set_config(const std::string& config_json) {
    EXPECT_TRUE(write_file_atomically(config_file_, config_json, 0644));
}

void reference_cp::start() {
    std::vector<std::string> args{
        lifeboat_bin().string(), "cp",    "--listen",          address(),  "--cert",
        certs_.cert.string(),    "--key", certs_.key.string(), "--config", config_file_.string()};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    proc_ = std::make_unique<process>(
        process_options{.args = args, .work_dir = dir_, .name = "cp-" + std::to_string(port_)});
    // Wait until it accepts connections.
    eventually(
        [&] {
            std::string error;
            cli::get_status(address(), "/", std::chrono::milliseconds(200), error);
            return error.find("refused") == std::string::npos;
        },
        std::chrono::seconds(10));
}

void reference_cp::kill() {
    if (proc_) {
        proc_->signal(SIGKILL);
        proc_->wait(std::chrono::seconds(5));
    }
}

agent_process::agent_process(const std::filesystem::path& dir, std::string name,
                             std::map<std::string, std::string> settings,
                             std::map<std::string, std::string> env)
    : dir_(dir)
    , prefix_(dir / (name + "-prefix"))
    , name_(std::move(name))
    , addr_("127.0.0.1:" + std::to_string(free_port()))
    , settings_(std::move(settings))
    , env_(std::move(env)) {
    settings_["prefix"] = prefix_.string();
    settings_["status_listen"] = addr_;
    start();
}

agent_process::agent_process(const std::filesystem::path& dir, std::string name,
                             std::map<std::string, std::string> settings,
                             std::map<std::string, std::string> env, std::filesystem::path conf_file)
    : dir_(dir)
    , prefix_(dir / (name + "-prefix"))
    , name_(std::move(name))
    , addr_("127.0.0.1:" + std::to_string(free_port()))
    , settings_(std::move(settings))
    , env_(std::move(env))
    , conf_file_(std::move(conf_file)) {
    settings_["prefix"] = prefix_.string();
    settings_["status_listen"] = addr_;
    start();
}

void agent_process::start() {
    std::vector<std::string> args{lifeboat_bin().string(), "run"};
    if (!conf_file_.empty()) {
        args.push_back("--conf");
        args.push_back(conf_file_.string());
    }
    for (const auto& [k, v] : settings_) {
        args.push_back("--set");
        args.push_back(k + "=" + v);
    }
    proc_ = std::make_unique<process>(process_options{
        .args = args, .env = env_, .work_dir = dir_, .name = name_ + "-" + std::to_string(std::rand())});
    EXPECT_TRUE(proc_->wait_for_output("lifeboat agent started", std::chrono::seconds(10))) << name_ << ":\n"
                                                                                            << proc_->err();
}

void agent_process::signal(int sig) {
    proc_->signal(sig);
}
void agent_process::kill9() {
    proc_->signal(SIGKILL);
    proc_->wait(std::chrono::seconds(5));
}
std::optional<int> agent_process::wait(std::chrono::milliseconds timeout) {
    return proc_->wait(timeout);
}
std::string agent_process::log() const {
    return proc_->err();
}

boost::json::value agent_process::status() const {
    std::string error;
    auto reply = cli::get_status(addr_, "/status", std::chrono::seconds(2), error);
    if (!reply || reply->status != 200)
        return nullptr;
    boost::system::error_code ec;
    auto v = boost::json::parse(reply->body, ec);
    return ec ? boost::json::value(nullptr) : v;
}

std::pair<unsigned, std::string> agent_process::get(const std::string& path) const {
    std::string error;
    auto reply = cli::get_status(addr_, path, std::chrono::seconds(2), error);
    if (!reply)
        return {0, error};
    return {reply->status, reply->body};
}

std::string agent_process::status_field(const std::string& section, const std::string& key) const {
    auto s = status();
    if (!s.is_object())
        return "<unreachable>";
    const auto* sec = s.as_object().if_contains(section);
    if (!sec || !sec->is_object())
        return "<no section>";
    const auto* v = sec->as_object().if_contains(key);
    if (!v || v->is_null())
        return "";
    if (v->is_string())
        return std::string(v->as_string());
    return boost::json::serialize(*v);
}

std::map<std::string, std::string> rgw_env() {
    const auto p = rgw();
    return {{"AWS_ACCESS_KEY_ID", p.access_key},
            {"AWS_SECRET_ACCESS_KEY", p.secret_key},
            {"AWS_REGION", p.region},
            {"AWS_CONFIG_STORAGE_ENDPOINT", p.endpoint}};
}

std::string rgw_storage_url(const std::string& prefix) {
    return "s3://" + rgw().bucket + "/" + prefix;
}

run_result aws_s3api(const std::vector<std::string>& args) {
    const auto p = rgw();
    std::vector<std::string> all{"/usr/bin/aws", "--endpoint-url", p.endpoint, "s3api"};
    all.insert(all.end(), args.begin(), args.end());
    return run({.args = all,
                .env = {{"AWS_ACCESS_KEY_ID", p.access_key},
                        {"AWS_SECRET_ACCESS_KEY", p.secret_key},
                        {"AWS_DEFAULT_REGION", p.region},
                        {"AWS_CONFIG_FILE", "/dev/null"},
                        {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
                        {"AWS_EC2_METADATA_DISABLED", "true"}},
                .name = "aws"},
               std::chrono::seconds(60));
}

std::map<std::string, std::string> azurite_env() {
    return {{"AZURE_STORAGE_CONNECTION_STRING", azurite().connection_string()}};
}

std::string azurite_storage_url(const std::string& prefix) {
    return "azure://" + azurite().account + "/" + azurite().container + "/" + prefix;
}

std::string to_string(test_store store) {
    return store == test_store::rgw ? "rgw" : "azurite";
}

std::map<std::string, std::string> store_env(test_store store) {
    return store == test_store::rgw ? rgw_env() : azurite_env();
}

std::string storage_url(test_store store, const std::string& prefix) {
    return store == test_store::rgw ? rgw_storage_url(prefix) : azurite_storage_url(prefix);
}

std::optional<stored_object> read_stored(test_store store, const std::string& key) {
    const auto out = scratch_dir() / "store-read.bin";
    std::filesystem::remove(out);
    // Both clients print the object's properties as JSON: awscli's "Metadata", the SDK's "metadata".
    auto r = store == test_store::rgw
                 ? aws_s3api({"get-object", "--bucket", rgw().bucket, "--key", key, out.string()})
                 : sdk({"get", azurite().container, key, out.string()});
    if (r.exit_code != 0)
        return std::nullopt;
    auto text = read_whole_file(out);
    if (!text)
        return std::nullopt;
    stored_object o;
    o.body = std::move(text).value();
    boost::system::error_code ec;
    auto props = boost::json::parse(r.out, ec);
    if (!ec && props.is_object())
        for (const char* field : {"Metadata", "metadata"})
            if (auto* m = props.as_object().if_contains(field); m && m->is_object())
                for (const auto& [name, value] : m->as_object())
                    if (value.is_string())
                        o.metadata[std::string(name)] = std::string(value.as_string());
    return o;
}

} // namespace lifeboat::test
