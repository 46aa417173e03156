// Package packaging holds what installs hamlet on a Debian system: the
// build script of the .deb (build-deb.sh), the systemd unit, the conffile
// and the maintainer scripts. Its test builds the package, installs it
// with apt-get, runs the unit's command line as the service user, scans a
// message and purges it.
package packaging
