//! A bench client (`scripts/bench`): an aws-sdk-rust program resolving one profile's credentials
//! at start-up, as any SDK program does, then exiting. `sdk_credentials PROFILE` prints the
//! access key id. A `credential_process` profile runs our helper; an SSO profile takes
//! aws-config's own SSO provider (its token cache, then GetRoleCredentials).

use aws_credential_types::provider::ProvideCredentials;

fn main() {
    let profile = std::env::args()
        .nth(1)
        .expect("usage: sdk_credentials PROFILE");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let resolved = runtime.block_on(
        aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(&profile)
            .build()
            .provide_credentials(),
    );
    match resolved {
        Ok(credentials) => println!("{}", credentials.access_key_id()),
        Err(err) => {
            eprintln!("sdk_credentials: {err}");
            std::process::exit(1);
        }
    }
}
