package linearizability

import (
	"os"

	"github.com/anishathalye/porcupine"
)

// writeVisualization writes porcupine's HTML page for a failed check into
// dir, under a fresh name so that several checks can share a results
// directory.
func writeVisualization(dir, name string, model porcupine.Model, info porcupine.LinearizationInfo) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, name+"-*.html")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := porcupine.Visualize(model, info, f); err != nil {
		return "", err
	}
	return f.Name(), nil
}
