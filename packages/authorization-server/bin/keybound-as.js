#!/usr/bin/env node
// Committed entry point, so that npm links the command at install time (dist/ is built after).
import '../dist/bin.js'
