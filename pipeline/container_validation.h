// Validation of a resource's container settings: image, command, environment, ports, health,
// limits, volumes and registry credentials, each within its bound.
#ifndef SLIPWAY_PIPELINE_CONTAINER_VALIDATION_H_
#define SLIPWAY_PIPELINE_CONTAINER_VALIDATION_H_

#include <string>

#include "pipeline/field_checks.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::pipeline {

// Adds to `out` every problem of `c`, the container settings at field path `f` of a resource
// of kind `kind`.
void CheckContainer(FieldChecks& out, const std::string& f, const v1::ContainerSettings& c,
                    v1::ResourceKind kind);

}  // namespace slipway::pipeline

#endif  // SLIPWAY_PIPELINE_CONTAINER_VALIDATION_H_
