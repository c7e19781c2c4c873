package firmwareconfig

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fanka/fanka/shared/wire"
)

// TestNginxExample runs the example nginx config for real, its paths and
// addresses moved into a temporary directory and loopback ports: `nginx
// -t` accepts it; then nginx, in front of two real fanka-server processes,
// checks their own certificates, passes plain requests and the registers'
// WebSocket (the server's challenge comes back through it), and when one
// server is SIGKILLed opens every new WebSocket on the other, the office's
// live feed among them. Port 80 redirects to HTTPS.
func TestNginxExample(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx-light; scripts/test installs it): the example nginx config is not tested")
	}
	if testing.Short() {
		t.Skip("builds fanka-server")
	}
	dir, err := os.MkdirTemp("", "fanka-nginx-") // nginx's workers run as another user: not t.TempDir's 0700 parents
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)

	bin := filepath.Join(dir, "fanka-server")
	if out, err := exec.Command("go", "build", "-o", bin, "../server/cmd/fanka-server").CombinedOutput(); err != nil {
		t.Fatalf("build fanka-server: %v\n%s", err, out)
	}
	ports := freePorts(t, 4)
	a := startServer(t, bin, filepath.Join(dir, "a"), ports[0])
	startServer(t, bin, filepath.Join(dir, "b"), ports[1])
	var bundle []byte
	for _, s := range []string{"a", "b"} {
		c, err := os.ReadFile(filepath.Join(dir, s, "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, c...)
	}
	writeFile(t, filepath.Join(dir, "servers.pem"), bundle)
	pool := writeNginxCert(t, dir)

	// The example, moved here. Each replacement must find its text, or
	// the example changed under the test.
	example, err := os.ReadFile("nginx-fanka.conf")
	if err != nil {
		t.Fatal(err)
	}
	site := string(example)
	for _, r := range [][2]string{
		{"/etc/nginx/fanka/", dir + "/"},
		{"10.0.0.11:8443", fmt.Sprintf("127.0.0.1:%d", ports[0])},
		{"10.0.0.12:8443", fmt.Sprintf("127.0.0.1:%d", ports[1])},
		{"    listen [::]:80;\n", ""},
		{"    listen [::]:443 ssl;\n", ""},
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", ports[2])},
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", ports[3])},
	} {
		if !strings.Contains(site, r[0]) {
			t.Fatalf("the example has no %q", r[0])
		}
		site = strings.ReplaceAll(site, r[0], r[1])
	}
	writeFile(t, filepath.Join(dir, "site.conf"), []byte(site))
	writeFile(t, filepath.Join(dir, "nginx.conf"), []byte(fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    include %[1]s/site.conf;
}
`, dir)))
	args := []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf")}
	if out, err := exec.Command(nginx, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the example: %v\n%s", err, out)
	}

	cmd := exec.Command(nginx, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", log)
		}
	})
	front := fmt.Sprintf("127.0.0.1:%d", ports[3])
	waitPort(t, front)

	tlsConf := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; i < 4; i++ { // both servers, in turn
		if code, body := get(t, client, "https://"+front+"/healthz"); code != 200 || body != "ok" {
			t.Fatalf("GET /healthz through nginx: %d %q", code, body)
		}
	}
	challenge := func(what string) {
		t.Helper()
		d := websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 5 * time.Second}
		conn, resp, err := d.Dial("wss://"+front+"/api/v1/terminal/ws", nil)
		if err != nil {
			t.Fatalf("%s: WebSocket through nginx: %v (response %v)", what, err, resp)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, frame, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("%s: read: %v", what, err)
		}
		if m, err := wire.Decode(frame); err != nil {
			t.Fatalf("%s: the first frame: %v", what, err)
		} else if _, ok := m.(*wire.Challenge); !ok {
			t.Fatalf("%s: first message %T, want the server's challenge", what, m)
		}
	}
	for i := 0; i < 2; i++ {
		challenge("both servers up")
	}

	// One server dies: nginx opens every new WebSocket on the other.
	a.Process.Kill()
	a.Wait()
	for i := 0; i < 4; i++ {
		challenge(fmt.Sprintf("server a killed, connection %d", i+1))
	}

	// The office's live feed, a WebSocket behind a sign-in (on the server
	// left: each test server has a database of its own).
	var login struct{ Token string }
	resp, err := client.Post("https://"+front+"/api/v1/login", "application/json", strings.NewReader(`{"user":"admin","password":"nginx-test-Password-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.Token == "" {
		t.Fatalf("sign in through nginx: %d %v", resp.StatusCode, err)
	}
	d := websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("wss://"+front+"/api/v1/sales/live", http.Header{"Authorization": {"Bearer " + login.Token}})
	if err != nil {
		t.Fatalf("live feed through nginx: %v (response %v)", err, resp)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("live feed: %s", resp.Status)
	}
	conn.Close()

	if code, _ := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/cards", ports[2])); code != http.StatusMovedPermanently {
		t.Fatalf("port 80: %d, want a redirect to HTTPS", code)
	}
}

// TestServerUnit: systemd accepts the example unit for fanka-server.
func TestServerUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit is not checked")
	}
	unit, err := os.ReadFile("fanka-server.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the program to exist.
	u := strings.ReplaceAll(string(unit), "/usr/local/bin/fanka-server", "/bin/true")
	path := filepath.Join(t.TempDir(), "fanka-server.service")
	writeFile(t, path, []byte(u))
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"User=fanka", "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n", "StateDirectory=fanka", "SystemCallFilter=@system-service"} {
		if !strings.Contains(u, want) {
			t.Errorf("the unit has no %q", want)
		}
	}
}

func startServer(t *testing.T, bin, data string, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "FANKA_ADMIN_PASSWORD=nginx-test-Password-1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "listening on") {
		t.Fatalf("fanka-server: first line %q (%v)", line, err)
	}
	go io.Copy(io.Discard, stdout)
	return cmd
}

// writeNginxCert writes nginx's own certificate and key (fullchain.pem,
// privkey.pem) and returns a pool that trusts it.
func writeNginxCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nginx test"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "fullchain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, filepath.Join(dir, "privkey.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func waitPort(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
