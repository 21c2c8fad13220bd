// What the object stores read from the environment, as Kong documents it. Gathered in one place
// so that `lifeboat config check` can show it (secrets redacted) and tests can set it explicitly.
#pragma once

#include <map>
#include <string>

namespace lifeboat::backends {

struct store_environment {
    std::string aws_access_key_id;
    std::string aws_secret_access_key;  // secret
    std::string aws_session_token;      // secret
    std::string aws_region;             // AWS_REGION, else AWS_DEFAULT_REGION
    std::string aws_endpoint;           // AWS_CONFIG_STORAGE_ENDPOINT: path-style S3-compatible store
    std::string aws_ca_bundle;          // AWS_CA_BUNDLE
    std::string aws_profile;            // AWS_PROFILE
    std::string aws_shared_credentials_file; // AWS_SHARED_CREDENTIALS_FILE
    std::string aws_config_file;        // AWS_CONFIG_FILE
    std::string aws_web_identity_token_file; // AWS_WEB_IDENTITY_TOKEN_FILE
    std::string aws_role_arn;           // AWS_ROLE_ARN
    std::string aws_role_session_name;  // AWS_ROLE_SESSION_NAME
    std::string aws_container_credentials_relative_uri; // AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS)
    std::string aws_container_credentials_full_uri;     // AWS_CONTAINER_CREDENTIALS_FULL_URI
    std::string aws_container_authorization_token;      // AWS_CONTAINER_AUTHORIZATION_TOKEN (secret)
    bool aws_ec2_metadata_disabled = false;             // AWS_EC2_METADATA_DISABLED=true
    std::string gcp_service_account;    // GCP_SERVICE_ACCOUNT: the service-account JSON itself (secret)
    std::string google_application_credentials; // GOOGLE_APPLICATION_CREDENTIALS: a file path
    std::string storage_emulator_host;  // STORAGE_EMULATOR_HOST: a local GCS endpoint
    // Azure Blob Storage (backends/azure/azure_credentials.hpp has the order they are tried in).
    std::string azure_storage_connection_string; // AZURE_STORAGE_CONNECTION_STRING (secret)
    std::string azure_storage_key;               // AZURE_STORAGE_KEY: the account key (secret)
    std::string azure_storage_sas_token;         // AZURE_STORAGE_SAS_TOKEN (secret)
    std::string azure_tenant_id;                 // AZURE_TENANT_ID
    std::string azure_client_id;                 // AZURE_CLIENT_ID
    std::string azure_client_secret;             // AZURE_CLIENT_SECRET (secret)
    std::string azure_authority_host;            // AZURE_AUTHORITY_HOST
    std::string azure_federated_token_file;      // AZURE_FEDERATED_TOKEN_FILE (workload identity)
    std::string identity_endpoint;               // IDENTITY_ENDPOINT (App Service, Container Apps)
    std::string identity_header;                 // IDENTITY_HEADER (secret)
    std::string home;                   // HOME, for ~/.aws
    // Not from the environment: the s3_unsigned_payload_over_tls key, which the S3 store needs
    // wherever the environment goes (agent, fetch, doctor, storage commands).
    bool s3_unsigned_payload_over_tls = false;

    static store_environment from(const std::map<std::string, std::string>& env);
};

} // namespace lifeboat::backends
