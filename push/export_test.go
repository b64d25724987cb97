package push

// Event names for the external tests.
const (
	EvConnectionEstablished = evConnectionEstablished
	EvError                 = evError
)

// DecodeClientFrame exports the client-frame decoder.
func DecodeClientFrame(b []byte) (event, channel string, data Data, err error) {
	f, err := decodeClientFrame(b)
	return f.Event, f.Channel, f.Data, err
}
