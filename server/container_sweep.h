// What the container driver's sweep may keep: the keys and scopes the store owns, read in one
// transaction, and the scopes with work in progress (left to that work).
#ifndef SLIPWAY_SERVER_CONTAINER_SWEEP_H_
#define SLIPWAY_SERVER_CONTAINER_SWEEP_H_

#include "deploy/container_driver.h"
#include "storage/database.h"

namespace slipway::server {

// Sweeps `driver`'s labelled objects against the store: every recorded resource of a stage or
// live preview is owned, every stage and live preview is an owned scope, and stages with a
// run in progress or previews being torn down are left alone. An error when the store cannot
// be read (nothing is swept then; the report says why).
deploy::SweepReport SweepContainers(storage::Database& db, deploy::ContainerDriver& driver);

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_CONTAINER_SWEEP_H_
