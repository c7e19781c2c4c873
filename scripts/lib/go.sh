# Sourced by scripts/test and scripts/demo: makes `go` the toolchain go.mod
# names. A Go of 1.21 or later fetches it by itself (GOTOOLCHAIN=auto); an
# older one (Debian 12's golang-go is 1.19) downloads it here as the module
# golang.org/toolchain from the Go module proxy, the same way newer Go does.
# Needs: $root (the repository), apt-get for golang-go when there is no Go.

ensure_go() {
	export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
	export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
	if ! command -v go >/dev/null; then
		echo "installing golang-go" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null
	fi
	# GOTOOLCHAIN exists from Go 1.21 on; such a go switches by itself.
	if [ -n "$(GOTOOLCHAIN=local go env GOTOOLCHAIN 2>/dev/null)" ]; then
		return
	fi
	local want arch dir dest
	want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$root/go.mod")
	arch=$(GOTOOLCHAIN=local go env GOARCH)
	dest="/usr/local/lib/fanka-go$want"
	if [ ! -x "$dest/bin/go" ]; then
		echo "fetching the go$want toolchain (this Go, $(go env GOVERSION), is too old)" >&2
		dir=$(cd / && GO111MODULE=on GOFLAGS= go mod download -json "golang.org/toolchain@v0.0.1-go$want.linux-$arch" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -n "$dir" ] || { echo "could not fetch the go$want toolchain" >&2; return 1; }
		rm -rf "$dest.tmp" && cp -r "$dir" "$dest.tmp" && chmod -R u+w "$dest.tmp"
		chmod +x "$dest.tmp"/bin/* "$dest.tmp"/pkg/tool/*/*
		mv "$dest.tmp" "$dest"
	fi
	export PATH="$dest/bin:$PATH" GOROOT="$dest"
}
