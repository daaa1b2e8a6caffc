package braze

import (
	"fmt"
)

// Request limits of /users/track.
const (
	// BatchSizeMax is the most objects Braze accepts in one request.
	BatchSizeMax = 75
	// BatchSizeDefault is the batch size unless an authorization sets a
	// lower one (some plans allow only 50).
	BatchSizeDefault = BatchSizeMax
	// MaxBodyBytes bounds a request body. Braze's limit is "4 MB"; this is
	// the smaller reading of it (4,000,000 bytes), so a batch is always
	// under Braze's limit.
	MaxBodyBytes = 4_000_000
)

const (
	bodyPrefix = `{"attributes":[`
	bodySuffix = `]}`
)

// Batch is one /users/track request: its objects and their encoded body.
type Batch struct {
	// Objects are the objects of the request, in body order.
	Objects []Object
	// Offset is the index of Objects[0] in the list given to Batches.
	Offset int
	// Body is the JSON request body.
	Body []byte
}

// Batches splits objects, in order, into requests of at most the client's
// batch size and under its body limit. Each object is encoded once. An
// object that is invalid, or too large to fit in a request alone, is an
// error naming its index, and no batch is returned.
func (c *Client) Batches(objects []Object) ([]Batch, error) {
	return split(objects, c.batchSize, c.maxBody)
}

func split(objects []Object, size, maxBody int) ([]Batch, error) {
	var (
		batches []Batch
		cur     Batch
		body    = make([]byte, 0, 16<<10)
		enc     []byte
		err     error
	)
	flush := func() {
		if len(cur.Objects) == 0 {
			return
		}
		cur.Body = append(body, bodySuffix...)
		batches = append(batches, cur)
		body = make([]byte, 0, cap(cur.Body))
	}
	overhead := len(bodyPrefix) + len(bodySuffix)
	for i, o := range objects {
		enc, err = o.appendJSON(enc[:0])
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", i, err)
		}
		if overhead+len(enc) >= maxBody {
			return nil, fmt.Errorf("object %d (%s) encodes to %d bytes: too large for a request under %d bytes", i, o.ID, len(enc), maxBody)
		}
		// +1 for the comma before every object but the first.
		if len(cur.Objects) == size || len(body)+1+len(enc)+len(bodySuffix) >= maxBody {
			flush()
			cur = Batch{}
		}
		if len(cur.Objects) == 0 {
			cur.Offset = i
			body = append(body[:0], bodyPrefix...)
		} else {
			body = append(body, ',')
		}
		body = append(body, enc...)
		cur.Objects = objects[cur.Offset : i+1 : i+1]
	}
	flush()
	return batches, nil
}
