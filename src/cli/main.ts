#!/usr/bin/env node
/**
 * The stock `autogen-team` bin: the built-in job kinds (CommandJob), plus any a `--jobs <module>` exports.
 *
 * @module
 */
import { CommandJob } from "../jobs/command.js"
import { main } from "./index.js"

main([CommandJob])
