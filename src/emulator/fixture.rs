//! Accounts, roles and users the portal answers with: a small built-in set, or a JSON file.
//!
//! ```json
//! {"accounts": [{"account_id": "111122223333", "account_name": "dev",
//!                "email_address": "dev@example.com", "roles": ["Developer", "ReadOnly"]}],
//!  "users": [{"name": "alice", "assignments": {"111122223333": ["Developer"]}}]}
//! ```
//! With no `users`, one user (`default`) sees every account and role.
//!
//! License Manager's licenses (`licenses`, none unless the file names some; the built-in set has
//! one) and the Regions where an account has STS turned off (`disabled_regions`):
//! ```json
//! {"licenses": [{"license_arn": "arn:aws:license-manager::111122223333:license:l-…",
//!                "name": "Example Pro", "beneficiary": "111122223333", "home_region": "us-east-1"}]}
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub licenses: Vec<License>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub account_id: String,
    pub account_name: String,
    pub email_address: String,
    pub roles: Vec<String>,
    /// Regions where STS is not activated for this account (RegionDisabledException).
    #[serde(default)]
    pub disabled_regions: Vec<String>,
}

/// A license granted to an account, as License Manager keeps it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    pub license_arn: String,
    pub name: String,
    /// The account the license is granted to: only its principals create tokens for it.
    pub beneficiary: String,
    /// Token calls that name the license must be made in this Region (else RedirectException).
    pub home_region: String,
}

/// The built-in license, granted to the built-in `dev` account.
pub const DEFAULT_LICENSE_ARN: &str =
    "arn:aws:license-manager::111122223333:license:l-0123456789abcdef0123456789abcdef";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// account id → role names this user may assume there.
    pub assignments: BTreeMap<String, Vec<String>>,
}

pub const DEFAULT_USER: &str = "default";

impl Default for Fixture {
    fn default() -> Self {
        let account = |id: &str, name: &str, roles: &[&str]| Account {
            account_id: id.to_string(),
            account_name: name.to_string(),
            email_address: format!("aws+{name}@example.com"),
            roles: roles.iter().map(|role| role.to_string()).collect(),
            disabled_regions: Vec::new(),
        };
        Self {
            accounts: vec![
                account(
                    "111122223333",
                    "dev",
                    &["Developer", "ReadOnly", "AdministratorAccess"],
                ),
                account("222233334444", "staging", &["Developer", "ReadOnly"]),
                account("333344445555", "prod", &["ReadOnly"]),
            ],
            users: Vec::new(),
            licenses: vec![License {
                license_arn: DEFAULT_LICENSE_ARN.to_string(),
                name: "Example Product Pro".to_string(),
                beneficiary: "111122223333".to_string(),
                home_region: "us-east-1".to_string(),
            }],
        }
    }
}

impl Fixture {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read fixture {}: {err}", path.display()))?;
        let fixture: Fixture = serde_json::from_str(&text)
            .map_err(|err| format!("fixture {} is not valid: {err}", path.display()))?;
        fixture
            .check()
            .map_err(|err| format!("fixture {}: {err}", path.display()))?;
        Ok(fixture)
    }

    fn check(&self) -> Result<(), String> {
        for user in &self.users {
            for (account_id, roles) in &user.assignments {
                let account = self.account(account_id).ok_or_else(|| {
                    format!(
                        "user {} is assigned unknown account {account_id}",
                        user.name
                    )
                })?;
                if let Some(role) = roles.iter().find(|role| !account.roles.contains(role)) {
                    return Err(format!(
                        "user {} is assigned role {role}, which account {account_id} does not have",
                        user.name
                    ));
                }
            }
        }
        for license in &self.licenses {
            if self.account(&license.beneficiary).is_none() {
                return Err(format!(
                    "license {} is granted to unknown account {}",
                    license.license_arn, license.beneficiary
                ));
            }
        }
        Ok(())
    }

    pub fn license(&self, license_arn: &str) -> Option<&License> {
        self.licenses
            .iter()
            .find(|license| license.license_arn == license_arn)
    }

    /// Whether STS is turned off in `region` for `account_id`.
    pub fn region_disabled(&self, account_id: &str, region: &str) -> bool {
        self.account(account_id)
            .is_some_and(|account| account.disabled_regions.iter().any(|r| r == region))
    }

    /// The user a login is approved as when nobody names one.
    pub fn default_user(&self) -> String {
        self.users
            .first()
            .map(|user| user.name.clone())
            .unwrap_or_else(|| DEFAULT_USER.to_string())
    }

    pub fn has_user(&self, name: &str) -> bool {
        if self.users.is_empty() {
            name == DEFAULT_USER
        } else {
            self.users.iter().any(|user| user.name == name)
        }
    }

    fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|account| account.account_id == account_id)
    }

    /// The accounts `user` is assigned to, in fixture order.
    pub fn accounts_of(&self, user: &str) -> Vec<&Account> {
        self.accounts
            .iter()
            .filter(|account| !self.roles_of(user, &account.account_id).is_empty())
            .collect()
    }

    /// The roles `user` may assume in `account_id` (empty when none or unknown).
    pub fn roles_of(&self, user: &str, account_id: &str) -> Vec<String> {
        let Some(account) = self.account(account_id) else {
            return Vec::new();
        };
        if self.users.is_empty() {
            return account.roles.clone();
        }
        self.users
            .iter()
            .find(|candidate| candidate.name == user)
            .and_then(|user| user.assignments.get(account_id))
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_users_everyone_sees_everything() {
        let fixture = Fixture::default();
        assert_eq!(fixture.accounts_of(DEFAULT_USER).len(), 3);
        assert_eq!(fixture.roles_of(DEFAULT_USER, "333344445555"), ["ReadOnly"]);
        assert!(fixture.roles_of(DEFAULT_USER, "999999999999").is_empty());
    }

    #[test]
    fn users_see_only_their_assignments() {
        let fixture: Fixture = serde_json::from_str(
            r#"{"accounts": [{"account_id": "1", "account_name": "a", "email_address": "a@x", "roles": ["R", "S"]},
                             {"account_id": "2", "account_name": "b", "email_address": "b@x", "roles": ["R"]}],
                "users": [{"name": "alice", "assignments": {"2": ["R"]}}]}"#,
        )
        .unwrap();
        fixture.check().unwrap();
        assert_eq!(fixture.default_user(), "alice");
        let accounts: Vec<_> = fixture
            .accounts_of("alice")
            .iter()
            .map(|a| a.account_id.clone())
            .collect();
        assert_eq!(accounts, ["2"]);
        assert!(fixture.roles_of("alice", "1").is_empty());
        assert!(fixture.roles_of("bob", "2").is_empty());
    }

    #[test]
    fn an_assignment_to_a_missing_role_is_refused() {
        let fixture: Fixture = serde_json::from_str(
            r#"{"accounts": [{"account_id": "1", "account_name": "a", "email_address": "a@x", "roles": ["R"]}],
                "users": [{"name": "alice", "assignments": {"1": ["Admin"]}}]}"#,
        )
        .unwrap();
        assert!(fixture.check().unwrap_err().contains("Admin"));
    }
}
