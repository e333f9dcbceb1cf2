#include "cloud/user_data.h"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <set>

namespace firerun::cloud {

std::string_view default_user_data_template() noexcept {
  // Writes a configuration firerund accepts (tests/unit/firerund checks the
  // rendered file with firerund's own parser). No secret is in the document:
  // EC2 user-data is readable by anything on the instance that reaches IMDS.
  // The shared queue's password and the fleet key (which signs queue
  // entries) are fetched at boot from SSM Parameter Store (SecureStrings,
  // readable through the instance profile) into 0600 files the configuration names. The download URL, checksum and parameter
  // name reach the shell as positional arguments, never spliced into script text.
  return R"(#cloud-config
write_files:
  - path: /etc/firerun/firerund.yaml
    permissions: "0600"
    owner: root:root
    content: |
      listen: 127.0.0.1:8080
      state_dir: /var/lib/firerun
      image_cache: /var/cache/firerun
      fleet:
        queue: {{fleet_queue}}
        queue_password_file: /etc/firerun/queue-password
        key_file: /etc/firerun/fleet-key
        spot_watch:
          enabled: true
  - path: /etc/systemd/system/firerund.service
    permissions: "0644"
    content: |
      [Unit]
      Description=firerun host daemon
      After=network-online.target
      Wants=network-online.target
      [Service]
      ExecStartPre=/usr/local/bin/firerund --check-config /etc/firerun/firerund.yaml
      ExecStart=/usr/local/bin/firerund --config /etc/firerun/firerund.yaml
      Restart=always
      RestartSec=2
      [Install]
      WantedBy=multi-user.target
runcmd:
  - [sh, -c, 'curl -fsSL --retry 5 -o /usr/local/bin/firerund.tmp "$1" && echo "$2  /usr/local/bin/firerund.tmp" | sha256sum -c - && chmod 0755 /usr/local/bin/firerund.tmp && mv /usr/local/bin/firerund.tmp /usr/local/bin/firerund', firerun-install, {{firerund_url}}, {{firerund_sha256}}]
  - [sh, -c, 'umask 077 && for pair in "$1=queue-password" "$2=fleet-key"; do aws ssm get-parameter --with-decryption --name "${pair%%=*}" --query Parameter.Value --output text > "/etc/firerun/${pair#*=}.tmp" && mv "/etc/firerun/${pair#*=}.tmp" "/etc/firerun/${pair#*=}" || exit 1; done', firerun-secrets, {{queue_password_parameter}}, {{fleet_key_parameter}}]
  - [systemctl, daemon-reload]
  - [systemctl, enable, --now, firerund.service]
)";
}

Result<std::string> render_user_data(std::string_view tmpl, const std::map<std::string, std::string>& values) {
  std::string out;
  std::set<std::string> used;
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    auto open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(pos));
      break;
    }
    out.append(tmpl.substr(pos, open - pos));
    auto close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos)
      return make_error(Errc::invalid_argument, "user-data template: unterminated '{{' at offset " + std::to_string(open));
    std::string name(tmpl.substr(open + 2, close - open - 2));
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    auto it = values.find(name);
    if (it == values.end())
      return make_error(Errc::invalid_argument, "user-data template: no value for placeholder '" + name + "'");
    used.insert(name);
    // A JSON string is a valid YAML double-quoted scalar; control characters come out escaped.
    out += boost::json::serialize(boost::json::string(it->second));
    pos = close + 2;
  }
  for (const auto& [name, value] : values)
    if (!used.contains(name))
      return make_error(Errc::invalid_argument, "user-data template: value '" + name + "' is not used by the template");
  if (!out.starts_with("#cloud-config\n"))
    return make_error(Errc::invalid_argument, "user-data: must start with a '#cloud-config' line");
  if (out.size() > kMaxUserDataBytes)
    return make_error(Errc::limit_exceeded, "user-data: " + std::to_string(out.size()) + " bytes exceeds EC2's " +
                                                std::to_string(kMaxUserDataBytes));
  try {
    auto doc = YAML::Load(out);
    if (!doc.IsMap()) return make_error(Errc::invalid_argument, "user-data: the document is not a YAML mapping");
  } catch (const YAML::Exception& e) {
    return make_error(Errc::invalid_argument,
                      "user-data: rendered template is not valid YAML (line " + std::to_string(e.mark.line + 1) + ")");
  }
  return out;
}

}  // namespace firerun::cloud
