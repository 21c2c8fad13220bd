#include "backends/store_environment.hpp"

namespace lifeboat::backends {

store_environment store_environment::from(const std::map<std::string, std::string>& env) {
    auto get = [&](const char* name) {
        auto it = env.find(name);
        return it == env.end() ? std::string() : it->second;
    };
    store_environment e;
    e.aws_access_key_id = get("AWS_ACCESS_KEY_ID");
    e.aws_secret_access_key = get("AWS_SECRET_ACCESS_KEY");
    e.aws_session_token = get("AWS_SESSION_TOKEN");
    e.aws_region = get("AWS_REGION");
    if (e.aws_region.empty())
        e.aws_region = get("AWS_DEFAULT_REGION");
    e.aws_endpoint = get("AWS_CONFIG_STORAGE_ENDPOINT");
    e.aws_ca_bundle = get("AWS_CA_BUNDLE");
    e.aws_profile = get("AWS_PROFILE");
    e.aws_shared_credentials_file = get("AWS_SHARED_CREDENTIALS_FILE");
    e.aws_config_file = get("AWS_CONFIG_FILE");
    e.aws_web_identity_token_file = get("AWS_WEB_IDENTITY_TOKEN_FILE");
    e.aws_role_arn = get("AWS_ROLE_ARN");
    e.aws_role_session_name = get("AWS_ROLE_SESSION_NAME");
    e.aws_container_credentials_relative_uri = get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    e.aws_container_credentials_full_uri = get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    e.aws_container_authorization_token = get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    e.aws_ec2_metadata_disabled = get("AWS_EC2_METADATA_DISABLED") == "true";
    e.gcp_service_account = get("GCP_SERVICE_ACCOUNT");
    e.google_application_credentials = get("GOOGLE_APPLICATION_CREDENTIALS");
    e.storage_emulator_host = get("STORAGE_EMULATOR_HOST");
    e.azure_storage_connection_string = get("AZURE_STORAGE_CONNECTION_STRING");
    e.azure_storage_key = get("AZURE_STORAGE_KEY");
    e.azure_storage_sas_token = get("AZURE_STORAGE_SAS_TOKEN");
    e.azure_tenant_id = get("AZURE_TENANT_ID");
    e.azure_client_id = get("AZURE_CLIENT_ID");
    e.azure_client_secret = get("AZURE_CLIENT_SECRET");
    e.azure_authority_host = get("AZURE_AUTHORITY_HOST");
    e.azure_federated_token_file = get("AZURE_FEDERATED_TOKEN_FILE");
    e.identity_endpoint = get("IDENTITY_ENDPOINT");
    e.identity_header = get("IDENTITY_HEADER");
    e.home = get("HOME");
    return e;
}

} // namespace lifeboat::backends
