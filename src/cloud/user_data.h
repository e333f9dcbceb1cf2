// Host bootstrap: a cloud-init "#cloud-config" document that installs
// firerund, writes its configuration and starts it so the host joins the
// fleet. Templates use {{name}} placeholders; every value is inserted as a
// YAML double-quoted scalar, so values cannot inject YAML or shell syntax.
#pragma once

#include "firerun/error.h"

#include <map>
#include <string>
#include <string_view>

namespace firerun::cloud {

/// The built-in template. Placeholders: firerund_url, firerund_sha256, fleet_queue (the shared
/// queue URI without its password), queue_password_parameter and fleet_key_parameter (the SSM
/// SecureString parameters holding that password and the fleet key, fetched at boot through the
/// instance profile). Holds no secret.
std::string_view default_user_data_template() noexcept;

/// EC2's limit on user data before base64 (16 KiB).
inline constexpr std::size_t kMaxUserDataBytes = 16 * 1024;

/// Renders `tmpl` with `values`; an unknown placeholder, a value the template does not use, or a
/// missing value is Errc::invalid_argument naming it. The result is checked: it must start with
/// "#cloud-config", parse as a YAML mapping and fit kMaxUserDataBytes.
Result<std::string> render_user_data(std::string_view tmpl, const std::map<std::string, std::string>& values);

}  // namespace firerun::cloud
