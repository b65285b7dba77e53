//! Pure parsers of what the posture probes read.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub name: Option<String>,
    pub version_id: Option<String>,
}

/// `/etc/os-release`: `NAME` and `VERSION_ID` (quotes removed).
pub fn os_release(text: &str) -> OsRelease {
    let mut o = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "NAME" => o.name = Some(v),
            "VERSION_ID" => o.version_id = Some(v),
            _ => {}
        }
    }
    o
}

/// `lsblk -J -o NAME,TYPE,MOUNTPOINTS`: whether `/` sits on a `crypt` device (anywhere
/// between the disk and the mounted device).
pub fn root_on_crypt(json: &str) -> Result<bool, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("lsblk output is not JSON: {e}"))?;
    fn walk(v: &serde_json::Value, crypt_above: bool) -> Option<bool> {
        let crypt = crypt_above || v["type"].as_str() == Some("crypt");
        let mounts_root = v["mountpoints"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x.as_str() == Some("/")))
            || v["mountpoint"].as_str() == Some("/");
        if mounts_root {
            return Some(crypt);
        }
        v["children"]
            .as_array()
            .and_then(|c| c.iter().find_map(|ch| walk(ch, crypt)))
    }
    let devices = v["blockdevices"]
        .as_array()
        .ok_or("lsblk output has no blockdevices")?;
    devices
        .iter()
        .find_map(|d| walk(d, false))
        .ok_or_else(|| "no device is mounted on /".to_string())
}

/// `nft list ruleset`: an input chain whose policy drops or rejects.
pub fn nft_active(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("type filter hook input")
            && (l.contains("policy drop") || l.contains("policy reject"))
    })
}

/// `ufw status`: `Status: active`.
pub fn ufw_active(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "Status: active")
}

/// `mokutil --sb-state`: `SecureBoot enabled`.
pub fn mokutil_enabled(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "SecureBoot enabled")
}

/// `/etc/apt/apt.conf.d/20auto-upgrades`: `APT::Periodic::Unattended-Upgrade "1";`.
pub fn unattended_upgrades(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        !l.starts_with("//")
            && l.starts_with("APT::Periodic::Unattended-Upgrade")
            && l.contains("\"1\"")
    })
}

/// sshd configuration texts in the order sshd reads them: the first `PermitRootLogin` wins;
/// root login is disabled when it says `no` (sshd's default `prohibit-password` still lets a
/// root key in, so it does not count as disabled).
pub fn root_login_disabled(texts: &[String]) -> bool {
    for t in texts {
        for line in t.lines() {
            let l = line.trim();
            if l.starts_with('#') {
                continue;
            }
            let mut parts = l.split_whitespace();
            if parts
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("PermitRootLogin"))
            {
                return parts.next().is_some_and(|v| v.eq_ignore_ascii_case("no"));
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_of_debian() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        let o = os_release(t);
        assert_eq!(o.name.as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(o.version_id.as_deref(), Some("12"));
    }

    #[test]
    fn the_root_filesystem_on_luks_is_encrypted_and_a_plain_one_is_not() {
        let luks = r#"{"blockdevices":[{"name":"nvme0n1","type":"disk","mountpoints":[null],"children":[
            {"name":"nvme0n1p1","type":"part","mountpoints":["/boot/efi"]},
            {"name":"nvme0n1p3","type":"part","mountpoints":[null],"children":[
              {"name":"nvme0n1p3_crypt","type":"crypt","mountpoints":[null],"children":[
                {"name":"vg-root","type":"lvm","mountpoints":["/"]}]}]}]}]}"#;
        assert_eq!(root_on_crypt(luks), Ok(true));
        let plain = r#"{"blockdevices":[{"name":"sda","type":"disk","mountpoints":[null],"children":[
            {"name":"sda1","type":"part","mountpoints":["/"]}]}]}"#;
        assert_eq!(root_on_crypt(plain), Ok(false));
        assert!(root_on_crypt("not json").is_err());
        assert!(root_on_crypt(r#"{"blockdevices":[]}"#).is_err());
    }

    #[test]
    fn firewalls_secure_boot_and_updates() {
        let nft = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n}\n";
        assert!(nft_active(nft));
        assert!(!nft_active(
            "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n"
        ));
        assert!(!nft_active(""));
        assert!(ufw_active("Status: active\n\nTo Action From\n"));
        assert!(!ufw_active("Status: inactive\n"));
        assert!(mokutil_enabled("SecureBoot enabled\n"));
        assert!(!mokutil_enabled(
            "SecureBoot disabled\nPlatform is in Setup Mode\n"
        ));
        assert!(unattended_upgrades(
            "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"
        ));
        assert!(!unattended_upgrades(
            "// APT::Periodic::Unattended-Upgrade \"1\";\n"
        ));
        assert!(!unattended_upgrades(
            "APT::Periodic::Unattended-Upgrade \"0\";\n"
        ));
    }

    #[test]
    fn sshd_root_login_first_match_wins() {
        let dropin = "PermitRootLogin no\n".to_string();
        let main = "#PermitRootLogin prohibit-password\nPermitRootLogin yes\n".to_string();
        assert!(root_login_disabled(&[dropin.clone(), main.clone()]));
        assert!(!root_login_disabled(std::slice::from_ref(&main)));
        assert!(!root_login_disabled(&["# nothing\n".to_string()]));
    }
}
