//! Configuration: the bot's own `healbot.yaml`, the policies, and each repository's
//! `.github/healbot.yml`.
