// SecretString lives in core (shared with the CI API clients); AWS code keeps
// its historical name.
#pragma once

#include "core/secret.h"

namespace firerun::cloud::aws {
using SecretString = firerun::SecretString;
}  // namespace firerun::cloud::aws
