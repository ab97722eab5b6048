package kubeapi

import (
	"net/http/httptest"
	"testing"
)

// The stream options of exec and attach, from their query parameters.
func TestParseStreamOptions(t *testing.T) {
	for _, tc := range []struct {
		query   string
		want    streamOptions
		wantErr bool
	}{
		{query: "stdout=true&stderr=true", want: streamOptions{stdout: true, stderr: true}},
		{query: "stdin=true&stdout=true&tty=true", want: streamOptions{stdin: true, stdout: true, tty: true}},
		// A terminal merges stderr into stdout, as the kubelet does.
		{query: "stdin=true&stdout=true&stderr=true&tty=true", want: streamOptions{stdin: true, stdout: true, tty: true}},
		{query: "stdin=1&stdout=0", want: streamOptions{stdin: true}},
		{query: "tty=true", wantErr: true},
		{query: "stdout=nonsense", wantErr: true},
	} {
		r := httptest.NewRequest("POST", "/api/v1/namespaces/default/pods/p/attach?"+tc.query, nil)
		got, err := parseStreamOptions(r)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.query, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.query, got, tc.want)
		}
	}
}
